"""The prediction log: answered and refused requests to Parquet files, never blocking a request.

A request hands its checked inputs and outputs to a bounded in-memory queue
(a deque append: no lock, no thread woken); when the queue is full the rows
are dropped and counted (``shipyard_prediction_log_dropped_rows_total``). One writer thread per worker
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
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["PredictionLog"]

log = logging.getLogger("shipyard.serve")
_FIELD = re.compile(r"feature '([^']{1,128})'")
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
        # A deque, not a queue.Queue: appending takes no lock and wakes no thread. The
        # writer drains it on its own clock, so logging costs a request an append.
        self._items: deque[tuple[Any, ...]] = deque()
        self._size = queue_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shipyard-prediction-log")
        self._thread.daemon = True
        self._thread.start()

    def _put(self, item: tuple[Any, ...], rows: int) -> None:
        if len(self._items) >= self._size or self._stop.is_set():
            if self.dropped is not None:
                self.dropped(max(rows, 1))
            return
        self._items.append(item)

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
        tick = min(self.flush_s, 0.1)  # how often the writer looks at the rows waiting
        while True:
            stopping = self._stop.wait(tick)
            while self._items:
                item = self._items.popleft()
                pending.append(item)
                rows += item[5].num_rows if item[0] == "ok" else 1
            due = time.monotonic() - last >= self.flush_s
            if pending and (stopping or due or rows >= self.max_rows):
                self._write(pending)
                pending, rows = [], 0
            if due:
                last = time.monotonic()
            if stopping:
                return
            self._prune_now()

    def _write(self, items: list[tuple[Any, ...]]) -> None:
        if not items:
            return
        groups: dict[tuple[str, str, bool], list[tuple[Any, ...]]] = {}
        for item in items:
            model = item[1]
            shadow = item[0] == "ok" and item[7] is not None
            groups.setdefault((model.name, model.version, shadow), []).append(item)
        for (name, version, _), group in groups.items():
            try:
                self._write_group(name, version, group)
            except Exception:  # noqa: BLE001 - a failing sink never touches requests
                rows = sum(i[5].num_rows if i[0] == "ok" else 1 for i in group)
                if self.dropped is not None:
                    self.dropped(rows)
                log.exception("the prediction log could not write %d rows", rows)

    def _write_group(self, name: str, version: str, group: list[tuple[Any, ...]]) -> None:
        """One Parquet file of a model version's rows: each column built once, for all requests."""
        import pyarrow.parquet as pq

        model = group[-1][1]
        ok = [item for item in group if item[0] == "ok"]
        refused = [item for item in group if item[0] != "ok"]
        parts = []
        if ok:
            parts.append(self._answered_table(model, ok))
        if refused:
            parts.append(_refused_table(refused))
        table = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")
        every = np.array([table.num_rows])
        table = table.append_column("model", _repeat_text([name], every))
        table = table.append_column("version", _repeat_text([version], every))
        stem = f"{_safe(name)}-{_safe(version)}-{os.getpid()}-{time.time_ns()}"
        tmp = self.folder / f".{stem}.parquet.tmp"
        # Dictionary encoding only where values repeat (text); trying it on every float
        # column made writing 5x slower, CPU taken from the requests.
        text = [f.name for f in table.schema if pa.types.is_string(f.type)]
        pq.write_table(table, tmp, use_dictionary=text)
        os.chmod(tmp, 0o444)  # a closed file never changes
        os.replace(tmp, self.folder / f"{stem}.parquet")
        self.written += table.num_rows

    @staticmethod
    def _answered_table(model: Any, items: list[tuple[Any, ...]]) -> pa.Table:
        """Answered rows: metadata repeated per row, inputs and outputs concatenated per column."""
        counts = np.fromiter((item[5].num_rows for item in items), np.int64, len(items))
        n = int(counts.sum())
        shadow = [item[7] is not None for item in items]
        meta: dict[str, Any] = {
            "request_id": _repeat_text([i[2] for i in items], counts),
            "time": pa.array(np.repeat(np.array([i[3] for i in items], np.int64), counts), _TIME),
            "status": pa.array(np.full(n, 200, np.int32)),
            "latency_ms": pa.array(np.repeat(np.array([i[6] for i in items], float), counts)),
            "error": pa.nulls(n, pa.string()),
            "field": pa.nulls(n, pa.string()),
            "shadow": pa.array(np.repeat(np.array(shadow, bool), counts)),
        }
        if any(shadow):
            meta["agrees"] = pa.concat_arrays(
                [
                    pa.nulls(int(c), pa.bool_()) if i[7] is None else _array(i[7]).cast(pa.bool_())
                    for i, c in zip(items, counts, strict=True)
                ]
            )
        data = _inputs(model, [item[4] for item in items])
        key = getattr(getattr(model, "bundle", None), "key", None)
        if key and any(item[8] is not None for item in items):
            keys: list[Any] = []
            for item, c in zip(items, counts, strict=True):
                given = item[8]
                keys += [None] * int(c) if given is None or len(given) != c else given
            data[key] = pa.array([None if k is None else str(k) for k in keys], pa.string())
        outputs = pa.concat_tables([item[5] for item in items]).combine_chunks()
        outs = {o["name"]: outputs.column(o["name"]) for o in model.outputs}
        return pa.table({**meta, **data, **outs})

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the writer (rows logged after this are dropped)."""
        self._stop.set()
        self._thread.join(timeout)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:64]


def _array(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values if isinstance(values, pa.Array) else pa.array(values)


def _inputs(model: Any, inputs: list[Any]) -> dict[str, Any]:
    """The requests' checked inputs as one column per feature.

    A request's inputs are a float64 matrix (all-numeric signatures) or a
    mapping of feature to NumPy or Arrow column; matrices are stacked once and
    split into columns once, mappings concatenated per feature.
    """
    signature = model.signature
    if all(isinstance(x, np.ndarray) for x in inputs):
        # Stacked straight into column-major memory: one copy, and the columns are views.
        stacked = np.empty((sum(len(x) for x in inputs), len(signature.names)), order="F")
        np.concatenate(inputs, out=stacked)
        columns = signature.matrix_columns(stacked)
        return {n: _array(columns[n]) for n in signature.names}
    mappings = [signature.matrix_columns(x) if isinstance(x, np.ndarray) else x for x in inputs]
    out: dict[str, Any] = {}
    for name in signature.names:
        parts = [m[name] for m in mappings]
        if all(isinstance(p, np.ndarray) for p in parts):
            out[name] = pa.array(np.concatenate(parts))
        else:
            out[name] = pa.concat_arrays([_array(p) for p in parts])
    return out


def _repeat_text(values: list[str], counts: np.ndarray) -> pa.Array:
    """Each of ``values`` repeated ``counts`` times, as text built by Arrow, not by Python."""
    indices = pa.array(np.repeat(np.arange(len(values), dtype=np.int32), counts))
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, pa.string())).cast(pa.string())


def _refused_table(items: list[tuple[Any, ...]]) -> pa.Table:
    """Refused requests: one row each, status, error class and field, no payload."""
    return pa.table(
        {
            "request_id": pa.array([i[2] for i in items], pa.string()),
            "time": pa.array([i[3] for i in items], _TIME),
            "status": pa.array([i[4] for i in items], pa.int32()),
            "latency_ms": pa.array([i[7] for i in items], pa.float64()),
            "error": pa.array([i[5] for i in items], pa.string()),
            "field": pa.array([i[6] for i in items], pa.string()),
            "shadow": pa.array([False] * len(items), pa.bool_()),
        }
    )
