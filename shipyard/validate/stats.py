"""Dataset statistics in one streaming pass over Arrow record batches, mergeable across shards.

:class:`DatasetStatistics` takes record batches one after another and keeps a
:class:`ColumnStatistics` per column; two of them (from two shards, processes
or machines) merge into the statistics of the union. :class:`Statistics` is the
artifact a step returns: one :class:`DatasetStatistics` per split, stored as
JSON by :class:`StatisticsMaterializer`.

Example
-------
>>> import pyarrow as pa
>>> stats = compute_statistics([pa.record_batch({"x": [1.0, 2.0, None]})])
>>> col = stats.columns["x"]
>>> (col.count, col.nulls, col.mean)
(3, 1, 1.5)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import MaterializerError
from ..pipeline.materializers import Materializer
from ._column import ColumnStatistics

__all__ = [
    "ColumnStatistics",
    "DatasetStatistics",
    "Statistics",
    "StatisticsMaterializer",
    "compute_statistics",
]

_FORMAT = "shipyard.statistics"
_VERSION = 1


def _clean(x: Any) -> Any:
    return None if isinstance(x, float) and not math.isfinite(x) else x


class DatasetStatistics:
    """Statistics of every column of a dataset, updated batch by batch and mergeable.

    Columns keep the order in which they first appear. A column missing from
    some batches counts only the rows of the batches that had it.
    """

    def __init__(self) -> None:
        self._columns: dict[str, ColumnStatistics] = {}
        self._num_rows = 0

    @property
    def num_rows(self) -> int:
        """Rows seen."""
        return self._num_rows

    @property
    def columns(self) -> dict[str, ColumnStatistics]:
        """Statistics per column name, in column order (do not modify the dict)."""
        return self._columns

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Add the rows of ``batch``.

        Raises
        ------
        TypeError
            If ``batch`` is neither a ``pyarrow.RecordBatch`` nor a ``pyarrow.Table``.
        ValueError
            If it has duplicate column names, or a column changes kind (say from
            numbers to strings) between batches.
        """
        if isinstance(batch, pa.RecordBatch):
            columns: list[list[pa.Array]] = [[c] for c in batch.columns]
        elif isinstance(batch, pa.Table):
            columns = [c.chunks for c in batch.columns]
        else:
            raise TypeError(
                f"update() takes a pyarrow.RecordBatch or pyarrow.Table; got {type(batch).__name__}"
            )
        names = batch.schema.names
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"the batch has duplicate column names {dupes}; names must be unique")
        for name, field, chunks in zip(names, batch.schema, columns, strict=True):
            col = self._columns.get(name)
            if col is None:
                col = self._columns[name] = ColumnStatistics(name, field.type)
            for chunk in chunks:
                col._update(chunk)
        self._num_rows += batch.num_rows

    def merge(self, other: DatasetStatistics) -> DatasetStatistics:
        """Add ``other`` (statistics of more rows of the same dataset); return self.

        Counts, nulls, min, max, mean and std merge exactly, quantiles, distinct
        counts and frequent values through their sketches, so the result does
        not depend on the order of merges beyond the sketches' error bounds.
        Columns only in ``other`` are added after these. ``other`` is unchanged.
        """
        if other is self:
            other = DatasetStatistics.from_dict(other.to_dict())
        # Check every column first, so that a refused merge leaves self as it was.
        for name, col in other._columns.items():
            mine = self._columns.get(name)
            problem = None if mine is None else mine.merge_conflict(col)
            if problem:
                raise ValueError(problem)
        for name, col in other._columns.items():
            mine = self._columns.get(name)
            if mine is None:
                self._columns[name] = col.copy()
            else:
                mine.merge(col)
        self._num_rows += other._num_rows
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (sketches as base64 strings); :meth:`from_dict` reads it back."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "num_rows": self._num_rows,
            "columns": [c.to_dict() for c in self._columns.values()],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetStatistics:
        """Statistics from :meth:`to_dict`'s output; they can be updated and merged further.

        Raises
        ------
        ValueError
            If ``d`` is not in a format this version reads.
        """
        _check_format(d, "DatasetStatistics")
        stats = cls()
        stats._num_rows = int(d["num_rows"])
        for c in d["columns"]:
            col = ColumnStatistics.from_dict(c)
            stats._columns[col.name] = col
        return stats

    def summary(self) -> list[dict[str, Any]]:
        """One JSON-able row per column, for tables in the CLI and reports.

        Keys: ``name, kind, type, count, nulls, null_fraction, min, max, mean,
        std, p50, distinct, top3`` (``top3`` is a list of ``[value, count]``).
        Values a column does not have are ``None``.
        """
        rows = []
        for col in self._columns.values():
            p50 = None
            if col.kind in ("numeric", "datetime"):
                p50 = _clean(col.quantiles([0.5])[0])
            rows.append(
                {
                    "name": col.name,
                    "kind": col.kind,
                    "type": col.arrow_type,
                    "count": col.count,
                    "nulls": col.nulls,
                    "null_fraction": col.nulls / col.count if col.count else None,
                    "min": col.min,
                    "max": col.max,
                    "mean": col.mean,
                    "std": col.std,
                    "p50": p50,
                    "distinct": _clean(col.distinct),
                    "top3": [[v, c] for v, c in col.top(3)],
                }
            )
        return rows

    def __repr__(self) -> str:
        return f"DatasetStatistics(num_rows={self._num_rows}, columns={list(self._columns)})"


class Statistics:
    """The statistics artifact: :class:`DatasetStatistics` per split.

    Parameters
    ----------
    splits
        Statistics by split name, such as ``{"train": ..., "eval": ...}`` or ``{"all": ...}``.
    """

    def __init__(self, splits: dict[str, DatasetStatistics] | None = None) -> None:
        self.splits: dict[str, DatasetStatistics] = dict(splits or {})

    def __getitem__(self, split: str) -> DatasetStatistics:
        return self.splits[split]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state of every split."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "splits": {name: s.to_dict() for name, s in self.splits.items()},
            # JSON objects have no order once keys are sorted for a stable digest.
            "order": list(self.splits),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Statistics:
        """The inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If ``d`` is not in a format this version reads.
        """
        _check_format(d, "Statistics")
        order = d.get("order") or list(d["splits"])
        return cls({name: DatasetStatistics.from_dict(d["splits"][name]) for name in order})

    def __repr__(self) -> str:
        rows = {name: s.num_rows for name, s in self.splits.items()}
        return f"Statistics(splits={rows})"


def _check_format(d: dict[str, Any], what: str) -> None:
    if d.get("format") != _FORMAT or d.get("version") != _VERSION:
        raise ValueError(
            f"cannot read {what}: format {d.get('format')!r} version {d.get('version')!r};"
            f" this version reads {_FORMAT!r} version {_VERSION}"
        )


def compute_statistics(batches: Iterable[pa.RecordBatch | pa.Table]) -> DatasetStatistics:
    """Statistics of a stream of record batches (or tables), in one pass."""
    stats = DatasetStatistics()
    for batch in batches:
        stats.update(batch)
    return stats


class StatisticsMaterializer(Materializer):
    """Stores :class:`Statistics` and :class:`DatasetStatistics` as one JSON file (no pickle)."""

    name = "statistics"
    types = ("shipyard.Statistics", "shipyard.DatasetStatistics")
    _FILE = "statistics.json"

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        """Write ``statistics.json``; return the class and the rows per split."""
        props: dict[str, Any]
        if isinstance(value, Statistics):
            rows = {name: s.num_rows for name, s in value.splits.items()}
            doc, props = value.to_dict(), {"class": "Statistics", "rows": rows}
        elif isinstance(value, DatasetStatistics):
            doc, props = value.to_dict(), {"class": "DatasetStatistics", "rows": value.num_rows}
        else:
            raise MaterializerError(
                f"the statistics materializer stores Statistics or DatasetStatistics;"
                f" got {type(value).__name__}"
            )
        # Sorted keys and no NaN: the same statistics always give the same bytes and digest.
        text = json.dumps(doc, sort_keys=True, allow_nan=False, separators=(",", ":"))
        (folder / self._FILE).write_text(text)
        return props

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        """Read the value back as the class it was saved as."""
        doc = json.loads((folder / self._FILE).read_text())
        if properties.get("class") == "DatasetStatistics":
            return DatasetStatistics.from_dict(doc)
        return Statistics.from_dict(doc)
