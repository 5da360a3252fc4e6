"""Cutting the prediction log into windows, from the cursor the last window left.

By time, windows are aligned to multiples of their length since the epoch
(an hour starts on the hour); a window is reported once it has ended (with
``partial``, the window in progress is reported up to now, and the next one
starts there). A stretch with no traffic is one window of no rows. The cursor
is the end of the last window: files written before it are not opened again,
and rows stamped before it that arrive late are skipped.

By rows, a window is the next ``rows`` rows in log order (files by the time
they were written, then rows in file order); the cursor is the file and row
after the last one taken, and rows short of a full window wait for the next
call (or are reported with ``partial``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._reader import ROW, iter_tables, list_files
from ._window import WindowStats

__all__ = ["Cut", "by_rows", "by_time"]

LAG_S = 2.0  # the log writes a file every second: rows younger than this may still be queued


@dataclass
class Cut:
    """One finished window: its statistics, bounds and the cursor after it."""

    stats: WindowStats
    start: float
    end: float
    cursor: dict[str, Any]


def _micros(table: pa.Table) -> np.ndarray:
    return np.asarray(table.column("time").cast(pa.int64()).to_numpy(zero_copy_only=False))


def by_time(
    folder: Path,
    model: str,
    versions: Sequence[str] | None,
    columns: Sequence[str],
    *,
    seconds: float,
    cursor: dict[str, Any],
    now: float,
    partial: bool,
    new_stats: Callable[[], WindowStats],
) -> Iterator[Cut]:
    """Windows of ``seconds`` from ``cursor["end"]`` up to ``now`` (see the module docstring)."""
    end0: float | None = cursor.get("end")
    limit = now - LAG_S
    after_ns = int(end0 * 1e9) if end0 is not None else 0
    windows: dict[int, WindowStats] = {}
    for _, table in iter_tables(list_files(folder, after_ns=after_ns), model, versions, columns):
        if not table.num_rows:
            continue
        t = _micros(table) / 1e6
        keep = t < limit
        if end0 is not None:
            keep &= t >= end0
        if not keep.all():
            table, t = table.filter(pa.array(keep)), t[keep]
        if not table.num_rows:
            continue
        index = np.floor(t / seconds).astype(np.int64)
        for i in np.unique(index):
            part = (
                table
                if len(index) and index.min() == index.max()
                else table.filter(pa.array(index == i))
            )
            windows.setdefault(int(i), new_stats()).update(part)
    closed_to = math.floor(limit / seconds) * seconds  # the end of the last window that ended
    start = end0
    for i in sorted(windows):
        w_start, w_end = i * seconds, (i + 1) * seconds
        if w_end > closed_to and not partial:
            break
        if start is not None and w_start > start:  # a stretch without traffic
            yield Cut(new_stats(), start, w_start, {"end": w_start})
        start = max(w_start, start) if start is not None else w_start
        end = min(w_end, limit)
        yield Cut(windows[i], start, end, {"end": end})
        start = end
    if start is not None:
        last = limit if partial else closed_to
        if last > start and (partial or closed_to - start >= seconds):
            yield Cut(new_stats(), start, last, {"end": last})


def by_rows(
    folder: Path,
    model: str,
    versions: Sequence[str] | None,
    columns: Sequence[str],
    *,
    rows: int,
    cursor: dict[str, Any],
    partial: bool,
    new_stats: Callable[[], WindowStats],
) -> Iterator[Cut]:
    """Windows of ``rows`` log rows from ``cursor`` (see the module docstring)."""
    at = (int(cursor.get("ns", 0)), str(cursor.get("file", "")))
    first_row = int(cursor.get("row", 0))
    stats = new_stats()
    position: dict[str, Any] = dict(cursor)
    for file, table in iter_tables(list_files(folder, after_ns=at[0]), model, versions, columns):
        here = (file.ns, file.name)
        if here < at:
            continue
        if here == at and first_row:
            table = table.filter(pc.greater_equal(table.column(ROW), first_row))
        while table.num_rows:
            take = table.slice(0, rows - stats.rows)
            stats.update(take)
            position = {
                "ns": file.ns,
                "file": file.name,
                "row": int(take.column(ROW)[-1].as_py()) + 1,
            }
            table = table.slice(take.num_rows)
            if stats.rows == rows:
                yield Cut(stats, stats.first or 0.0, stats.last or 0.0, position)
                stats = new_stats()
    if partial and stats.rows:
        yield Cut(stats, stats.first or 0.0, stats.last or 0.0, position)
