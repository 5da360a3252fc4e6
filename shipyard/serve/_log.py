"""The prediction log: answered and refused requests to Parquet files, never blocking a request.

A request hands its checked inputs and outputs to a bounded queue
(``put_nowait``); when the queue is full the rows are dropped and counted
(``shipyard_prediction_log_dropped_rows_total``). One writer thread per worker
drains the queue and writes one Parquet file per model version every
``flush_s`` seconds or ``max_rows`` rows, through a temporary name renamed
into place, so a file that exists is complete and never changes. Refused
requests are logged with their status, error class and the feature the error
names, but no payload. Closing (on shutdown) writes what is queued.

Retention: when the writer starts and then at most once every ``prune_s``
seconds, it deletes the folder's closed files (``*.parquet``) modified longer
than ``retention_s`` ago, then the oldest ones while the files add up to more
than ``max_bytes``. Several workers share a folder: a file another worker
deleted first is skipped.

Columns: ``request_id``, ``time`` (UTC), ``model``, ``version``, ``status``,
``latency_ms``, ``error``, ``field``, ``shadow``, then the features and the
outputs (null for refused requests). A shadow model's rows (``shadow`` true,
in files of their own, with the request id of the answered request) also
have ``agrees``: whether the row's outputs equal those returned.
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
    retention_s, max_bytes
        Closed files older than this many seconds are deleted, then the oldest
        while the folder's files are larger than this (None: no bound).
    prune_s
        Least seconds between two checks of retention.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        queue_size: int = 10_000,
        dropped: Callable[[int], None] | None = None,
        flush_s: float = 1.0,
        max_rows: int = 100_000,
        retention_s: float | None = None,
        max_bytes: int | None = None,
        prune_s: float = 60.0,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.flush_s = flush_s
        self.max_rows = max_rows
        self.retention_s = retention_s
        self.max_bytes = max_bytes
        self.prune_s = prune_s
        self.deleted = 0
        self._pruned = float("-inf")
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
        *,
        agrees: pa.Array | None = None,
        keys: list[Any] | None = None,
    ) -> None:
        """Log an answered request: its checked inputs and its outputs (never blocks).

        Parameters
        ----------
        agrees
            For a shadow model's outputs (never returned), whether each row
            equals the answer that was returned; None for an answer.
        keys
            The rows' values of the bundle's key column, when the request sent
            them (logged as that column, as text, so labels can be joined later).
        """
        ts = time.time_ns() // 1000
        self._put(
            ("ok", model, request_id, ts, inputs, outputs, latency_ms, agrees, keys),
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
                time.time_ns() // 1000,
                status,
                type(error).__name__,
                field,
                latency_ms,
                None,
            ),
            1,
        )

    def prune(self) -> int:
        """Delete the closed files past the retention period or the size bound; return how many."""
        self._pruned = time.monotonic()
        if self.retention_s is None and self.max_bytes is None:
            return 0
        files = []
        for path in self.folder.glob("*.parquet"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # deleted by another worker meanwhile
                continue
            files.append((stat.st_mtime, stat.st_size, path))
        files.sort()
        doomed = []
        if self.retention_s is not None:
            cutoff = time.time() - self.retention_s
            doomed = [f for f in files if f[0] < cutoff]
            files = files[len(doomed) :]
        if self.max_bytes is not None:
            total = sum(size for _, size, _ in files)
            for item in files:
                if total <= self.max_bytes:
                    break
                doomed.append(item)
                total -= item[1]
        count = 0
        for _, _, path in doomed:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError:  # noqa: PERF203 - a file we cannot delete is logged, not fatal
                log.warning("the prediction log could not delete %s", path, exc_info=True)
                continue
            count += 1
        if count:
            log.info("prediction log retention deleted %d file(s) from %s", count, self.folder)
        self.deleted += count
        return count

    def _prune_now(self) -> None:
        if time.monotonic() - self._pruned < self.prune_s:
            return
        try:
            self.prune()
        except Exception:  # noqa: BLE001 - retention never stops the log
            log.exception("prediction log retention failed")

    def _run(self) -> None:
        pending: list[tuple[Any, ...]] = []
        rows = 0
        last = time.monotonic()
        self._prune_now()
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
            self._prune_now()

    def _write(self, items: list[tuple[Any, ...]]) -> None:
        if not items:
            return
        groups: dict[tuple[str, str, bool], list[tuple[Any, ...]]] = {}
        for item in items:
            model = item[1]
            groups.setdefault((model.name, model.version, item[-1] is not None), []).append(item)
        for (name, version, _), group in groups.items():
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
                _, _, rid, ts, inputs, table, latency, agrees, keys = item
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
                    "shadow": pa.array([agrees is not None] * n, pa.bool_()),
                }
                if agrees is not None:
                    meta["agrees"] = agrees
                data = {n_: pa.array(columns[n_]) for n_ in names}
                key = getattr(getattr(model, "bundle", None), "key", None)
                if key and keys is not None and len(keys) == n:
                    data[key] = pa.array([None if k is None else str(k) for k in keys], pa.string())
                outs = {o: table.column(o).combine_chunks() for o in outputs}
                parts.append(pa.table({**meta, **data, **outs}))
            else:
                _, _, rid, ts, status, error, field, latency, _ = item
                meta = {
                    "request_id": pa.array([rid], pa.string()),
                    "time": pa.array([ts], _TIME),
                    "status": pa.array([status], pa.int32()),
                    "latency_ms": pa.array([latency], pa.float64()),
                    "error": pa.array([error], pa.string()),
                    "field": pa.array([field], pa.string()),
                    "shadow": pa.array([False], pa.bool_()),
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
