"""The statistics of one window, built batch by batch with whole-array operations.

A :class:`WindowStats` takes tables of log rows (:mod:`._reader`) and keeps
the same :class:`~shipyard.validate.DatasetStatistics` the training split has
(raw inputs, transformed features, predictions), the request counts and
latencies, and the (label, score) pairs of rows with a label.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..bundle.bundle import _stats_table
from ..validate._column import ColumnStatistics
from ..validate.stats import DatasetStatistics
from ._features import feature_table
from ._labels import Labels
from ._reference import Reference

__all__ = ["WindowStats", "update_all"]

_THREADS = min(4, os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None


def _column_pool() -> ThreadPoolExecutor | None:
    global _pool  # noqa: PLW0603 - one pool per process, made on first use
    if _THREADS < 2:
        return None
    if _pool is None:
        _pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="shipyard-monitor")
    return _pool


def _feed(col: ColumnStatistics, chunks: list[pa.Array]) -> None:
    for chunk in chunks:
        col._update(chunk)


def update_all(parts: list[tuple[DatasetStatistics, pa.Table]]) -> None:
    """``stats.update(table)`` for each pair, the columns spread over threads.

    Each column's statistics are updated by one task (NumPy's sorts and
    Arrow's kernels release the GIL), so the result is the same as updating
    one column after the other; the work buffers are per thread.
    """
    pool = _column_pool()
    if pool is None:
        for stats, table in parts:
            stats.update(table)
        return
    tasks = []
    for stats, table in parts:
        columns = stats._columns
        for name, field in zip(table.schema.names, table.schema, strict=True):
            col = columns.get(name)
            if col is None:
                col = columns[name] = ColumnStatistics(name, field.type)
            tasks.append(pool.submit(_feed, col, table.column(name).chunks))
        stats._num_rows += table.num_rows
    for task in tasks:
        task.result()


class WindowStats:
    """Accumulates one window's rows (see the module docstring)."""

    def __init__(
        self,
        reference: Reference,
        labels: Labels | None = None,
        *,
        labels_only: bool = False,
        skew_stride: int = 1,
    ) -> None:
        self.reference = reference
        self.labels = labels
        self.labels_only = labels_only
        self.skew_stride = max(1, skew_stride)  # skew statistics read every k-th served row
        self._served = 0
        self.inputs = DatasetStatistics()
        self.features = DatasetStatistics()
        self.predictions = DatasetStatistics()
        self.rows = 0
        self.ok = 0
        self.schema_violations = 0
        self.errors = 0
        self.versions: dict[str, int] = {}
        self.first: float | None = None
        self.last: float | None = None
        self._latency: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self.notes: list[str] = []

    def update(self, table: pa.Table) -> None:
        """Add log rows (any statuses) of the window."""
        n = table.num_rows
        if not n:
            return
        self.rows += n
        status = table.column("status").to_numpy(zero_copy_only=False)
        ok = (status >= 200) & (status < 300)
        schema = (status == 400) | (status == 422)
        self.ok += int(ok.sum())
        self.schema_violations += int(schema.sum())
        self.errors += int((~ok & ~schema).sum())
        times = pc.min_max(table.column("time").cast(pa.int64()))
        lo, hi = times["min"].as_py() / 1e6, times["max"].as_py() / 1e6
        self.first = lo if self.first is None else min(self.first, lo)
        self.last = hi if self.last is None else max(self.last, hi)
        for pair in pc.value_counts(table.column("version")).to_pylist():
            v = str(pair["values"])
            self.versions[v] = self.versions.get(v, 0) + int(pair["counts"])
        self._add_latency(table)
        good = table if ok.all() else table.filter(pa.array(ok))
        if good.num_rows:
            self._add_served(good)

    def _add_latency(self, table: pa.Table) -> None:
        # One latency per request: the rows of a request sit together in a file.
        rid = table.column("request_id").combine_chunks()
        first = np.ones(len(rid), dtype=bool)
        if len(rid) > 1:
            first[1:] = pc.fill_null(
                pc.not_equal(rid.slice(1), rid.slice(0, len(rid) - 1)), True
            ).to_numpy(zero_copy_only=False)
        latency = table.column("latency_ms").to_numpy(zero_copy_only=False)
        self._latency.append(np.asarray(latency, dtype=np.float64)[first])

    def _add_served(self, table: pa.Table) -> None:
        ref = self.reference
        if self.labels_only:
            outputs = [c for c in ref.outputs if c in table.column_names]
            if self.labels is not None and len(outputs) == len(ref.outputs):
                self._add_labels(table, table.select(outputs))
            return
        inputs = [c for c in ref.inputs if c in table.column_names]
        if len(inputs) < len(ref.inputs):
            missing = sorted(set(ref.inputs) - set(inputs))
            note = f"the log lacks input columns {missing}: no drift for them"
            if note not in self.notes:
                self.notes.append(note)
        raw = table.select(inputs)
        parts: list[tuple[DatasetStatistics, pa.Table]] = [(self.inputs, raw)]
        if ref.features is not None and len(inputs) == len(ref.inputs):
            k = self.skew_stride
            sample = raw
            if k > 1:  # every k-th served row of the window, across batches
                sample = raw.take(np.arange((-self._served) % k, raw.num_rows, k))
            if sample.num_rows:
                parts.append((self.features, feature_table(ref.transform, sample)))
        self._served += raw.num_rows
        outputs = [c for c in ref.outputs if c in table.column_names]
        if len(outputs) == len(ref.outputs):
            out = table.select(outputs)
            parts.append((self.predictions, _stats_table(ref.task, out)))
            if self.labels is not None:
                self._add_labels(table, out)
        update_all(parts)

    def _add_labels(self, table: pa.Table, outputs: pa.Table) -> None:
        assert self.labels is not None
        y = self.labels.lookup(table)
        if y is None:
            return
        has = ~np.isnan(y)
        if not has.any():
            return
        mask = pa.array(has)
        if self.reference.task == "multiclass":
            probs = outputs.column("probabilities").combine_chunks().filter(mask)
            k = len(probs[0]) if len(probs) else 0
            scores = probs.flatten().to_numpy(zero_copy_only=False).reshape(-1, k)
        else:
            column = "probability" if self.reference.task == "binary" else "prediction"
            scores = outputs.column(column).filter(mask).to_numpy(zero_copy_only=False)
        self._y.append(y[has])
        self._scores.append(np.asarray(scores, dtype=np.float64))

    # -- results -------------------------------------------------------------

    def latency_percentiles(self) -> dict[str, float]:
        values = np.concatenate(self._latency) if self._latency else np.empty(0)
        values = values[~np.isnan(values)]
        if not values.size:
            return {
                "latency_p50_ms": math.nan,
                "latency_p95_ms": math.nan,
                "latency_p99_ms": math.nan,
            }
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return {
            "latency_p50_ms": float(p50),
            "latency_p95_ms": float(p95),
            "latency_p99_ms": float(p99),
        }

    def labelled(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(y_true, y_score)`` of the window's rows that have a label, or None."""
        if not self._y:
            return None
        return np.concatenate(self._y), np.concatenate(self._scores)

    def summary(self) -> dict[str, Any]:
        return {"rows": self.rows, "ok": self.ok, "versions": dict(self.versions)}
