"""Reading one model's rows of the prediction log, file by file, from a cursor.

The server writes immutable Parquet files named ``MODEL-VERSION-PID-TIMENS``
(``shipyard/serve/_log.py``); a file's ``TIMENS`` is taken when it is
written, after every row in it was answered. Files are read in the order of
that number, then of their name, so a cursor of ``(number, name, row)`` says
exactly what was consumed, and files that appear later sort after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["LogFile", "list_files", "read_file", "ROW"]

ROW = "__row"  # the row's index within its file, added to every table read
_META = ("request_id", "time", "model", "version", "status", "latency_ms", "error", "field")


@dataclass(frozen=True, order=True)
class LogFile:
    """One log file: ``ns`` (when written, nanoseconds since the epoch), its name and path."""

    ns: int
    name: str
    path: Path


def _stamp(path: Path) -> int:
    try:
        return int(path.stem.rsplit("-", 1)[-1])
    except ValueError:
        return path.stat().st_mtime_ns


def list_files(folder: Path, *, after_ns: int = 0) -> list[LogFile]:
    """The finished log files of ``folder`` written at or after ``after_ns``, in cursor order."""
    if not folder.is_dir():
        return []
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.endswith(".parquet"):
                continue  # temporary files being written
            path = Path(entry.path)
            ns = _stamp(path)
            if ns >= after_ns:
                found.append(LogFile(ns, entry.name, path))
    return sorted(found)


def read_file(
    file: LogFile, model: str, versions: Sequence[str] | None, columns: Sequence[str]
) -> pa.Table:
    """The rows of ``model`` (and ``versions``, all when None) in ``file``, shadow rows excluded.

    Returns the log's own columns, those of ``columns`` the file has (features
    and outputs; refused rows hold nulls there) and ``ROW``.
    """
    schema = pq.read_schema(file.path)
    have = set(schema.names)
    wanted = [c for c in (*_META, "shadow", *columns) if c in have]
    table = pq.read_table(file.path, columns=list(dict.fromkeys(wanted)))
    table = table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    mask = pc.equal(table.column("model"), model)
    if versions is not None:
        mask = pc.and_(mask, pc.is_in(table.column("version"), pa.array(list(versions))))
    if "shadow" in have:
        mask = pc.and_(mask, pc.invert(_is_shadow(table.column("shadow"))))
    return table.filter(mask)


def _is_shadow(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """True for shadow rows: a true boolean, or any non-empty value (the shadow's name)."""
    if pa.types.is_boolean(column.type):
        return pc.fill_null(column, False)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.fill_null(pc.not_equal(column, ""), False)
    return pc.is_valid(column)


def iter_tables(
    files: Sequence[LogFile], model: str, versions: Sequence[str] | None, columns: Sequence[str]
) -> Iterator[tuple[LogFile, pa.Table]]:
    """:func:`read_file` of each file in order, the next file read while this one is used."""
    if len(files) < 2:
        for file in files:
            yield file, read_file(file, model, versions, columns)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="shipyard-monitor-read") as pool:
        ahead = pool.submit(read_file, files[0], model, versions, columns)
        for i, file in enumerate(files):
            table = ahead.result()
            if i + 1 < len(files):
                ahead = pool.submit(read_file, files[i + 1], model, versions, columns)
            yield file, table
