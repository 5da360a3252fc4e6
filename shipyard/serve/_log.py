"""The prediction log: answered and refused requests to Parquet files, never blocking a request.

A request hands its checked inputs and outputs to a bounded queue
(``put_nowait``); when the queue is full the rows are dropped and counted
(``shipyard_prediction_log_dropped_rows_total``). One writer thread per worker
drains the queue and writes one Parquet file per model version every
``flush_s`` seconds or ``max_rows`` rows, through a temporary name renamed
into place, so a file that exists is complete and never changes. Refused
requests are logged with their status, error class and the feature the error
names, but no payload. Closing (on shutdown) writes what is queued.

Columns: ``request_id``, ``time`` (UTC), ``model``, ``version``, ``status``,
``latency_ms``, ``error``, ``field``, then the features and the outputs
(null for refused requests).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["PredictionLog"]

log = logging.getLogger("shipyard.serve")
_FIELD = re.compile(r"feature '([^']{1,128})'")
_STOP = object()
_TIME = pa.timestamp("us", "UTC")


class PredictionLog:
    """A bounded, non-blocking log of predictions written by a background thread.

    Parameters
    ----------
    folder
        Where the Parquet files go (created).
    queue_size
        Requests buffered for the writer; beyond it their rows are dropped.
    dropped
        Called with the number of rows dropped.
    flush_s, max_rows
        A file is written at least this often, or when this many rows wait.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        queue_size: int = 10_000,
        dropped: Callable[[int], None] | None = None,
        flush_s: float = 1.0,
        max_rows: int = 100_000,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.flush_s = flush_s
        self.max_rows = max_rows
        self.dropped = dropped
        self.written = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="shipyard-prediction-log")
        self._thread.daemon = True
        self._thread.start()

    def _put(self, item: tuple[Any, ...], rows: int) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            if self.dropped is not None:
                self.dropped(max(rows, 1))

    def answered(
        self,
        model: Any,
        request_id: str,
        inputs: Any,
        outputs: pa.Table,
        latency_ms: float,
    ) -> None:
        """Log an answered request: its checked inputs and its outputs (never blocks)."""
        self._put(
            ("ok", model, request_id, time.time_ns() // 1000, inputs, outputs, latency_ms),
            outputs.num_rows,
        )

    def refused(
        self, model: Any, request_id: str, status: int, error: BaseException, latency_ms: float
    ) -> None:
        """Log a refused request: status, error class and the feature named, no payload."""
        found = _FIELD.search(str(error))
        field = found.group(1) if found else None
        self._put(
            (
                "error",
                model,
                request_id,
                time.time(),
                status,
                type(error).__name__,
                field,
                latency_ms,
            ),
            1,
        )

    def _run(self) -> None:
        pending: list[tuple[Any, ...]] = []
        rows = 0
        last = time.monotonic()
        while True:
            timeout = max(0.0, self.flush_s - (time.monotonic() - last))
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._write(pending)
                return
            if item is not None:
                pending.append(item)
                rows += item[5].num_rows if item[0] == "ok" else 1
            if pending and (rows >= self.max_rows or time.monotonic() - last >= self.flush_s):
                self._write(pending)
                pending, rows = [], 0
            if time.monotonic() - last >= self.flush_s:
                last = time.monotonic()

    def _write(self, items: list[tuple[Any, ...]]) -> None:
        if not items:
            return
        groups: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        for item in items:
            model = item[1]
            groups.setdefault((model.name, model.version), []).append(item)
        for (name, version), group in groups.items():
            try:
                self._write_group(name, version, group)
            except Exception:  # noqa: BLE001 - a failing sink never touches requests
                rows = sum(i[5].num_rows if i[0] == "ok" else 1 for i in group)
                if self.dropped is not None:
                    self.dropped(rows)
                log.exception("the prediction log could not write %d rows", rows)

    def _write_group(self, name: str, version: str, group: list[tuple[Any, ...]]) -> None:
        import pyarrow.parquet as pq

        model = group[-1][1]
        names = model.signature.names
        outputs = [o["name"] for o in model.outputs]
        parts = []
        for item in group:
            if item[0] == "ok":
                _, _, rid, ts, inputs, table, latency = item
                n = table.num_rows
                columns = (
                    model.signature.matrix_columns(inputs)
                    if isinstance(inputs, np.ndarray)
                    else inputs
                )
                meta = {
                    "request_id": pa.array([rid] * n, pa.string()),
                    "time": pa.array([ts] * n, _TIME),
                    "status": pa.array([200] * n, pa.int32()),
                    "latency_ms": pa.array([latency] * n, pa.float64()),
                    "error": pa.nulls(n, pa.string()),
                    "field": pa.nulls(n, pa.string()),
                }
                data = {n_: pa.array(columns[n_]) for n_ in names}
                outs = {o: table.column(o).combine_chunks() for o in outputs}
                parts.append(pa.table({**meta, **data, **outs}))
            else:
                _, _, rid, ts, status, error, field, latency = item
                meta = {
                    "request_id": pa.array([rid], pa.string()),
                    "time": pa.array([ts], _TIME),
                    "status": pa.array([status], pa.int32()),
                    "latency_ms": pa.array([latency], pa.float64()),
                    "error": pa.array([error], pa.string()),
                    "field": pa.array([field], pa.string()),
                }
                parts.append(pa.table(meta))
        table = pa.concat_tables(parts, promote_options="default")
        table = table.append_column("model", pa.array([name] * table.num_rows, pa.string()))
        table = table.append_column("version", pa.array([version] * table.num_rows, pa.string()))
        stem = f"{_safe(name)}-{_safe(version)}-{os.getpid()}-{time.time_ns()}"
        tmp = self.folder / f".{stem}.parquet.tmp"
        pq.write_table(table, tmp)
        os.chmod(tmp, 0o444)  # a closed file never changes
        os.replace(tmp, self.folder / f"{stem}.parquet")
        self.written += table.num_rows

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the writer."""
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:64]
