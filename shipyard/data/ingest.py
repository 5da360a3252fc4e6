"""Ingest: stream a source through DuckDB into split Parquet shards, with statistics.

One pass. DuckDB parses (in parallel, within ``memory_limit``) and assigns
each row its split; this process receives Arrow record batches in the source's
order, writes each split's rows to rotating Parquet shards and updates each
split's mergeable statistics from whole arrays. Peak memory is a few batches,
whatever the size of the input; the output is byte-for-byte the same on a
rerun, so downstream caching and ``reproduce`` work.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, DataSourceError
from .dataset import Dataset, schema_to_json
from .sources import (
    ResolvedSource,
    check_csv_types,
    diagnose_csv,
    guess_delimiter,
    resolve_source,
    sql_literal,
)
from .splits import SPLITS, quote_ident, split_expression, time_cutoffs_query

__all__ = ["IngestResult", "ingest", "read_batches"]

DEFAULT_BATCH_ROWS = 65_536  # smaller batches keep the working set small; larger ones save no time
DEFAULT_SHARD_ROWS = 2_000_000
DEFAULT_MEMORY_LIMIT = "256MB"  # DuckDB buffers ahead of a slow consumer up to this


class IngestResult:
    """The Dataset written, its statistics per split, and what was dropped."""

    def __init__(self, dataset: Dataset, statistics: Any, seconds: float) -> None:
        self.dataset, self.statistics, self.seconds = dataset, statistics, seconds


class _ShardWriter:
    """Parquet shards of one split, a new file every ``shard_rows`` rows."""

    def __init__(self, folder: Path, split: str, schema: pa.Schema, shard_rows: int) -> None:
        self.folder, self.split, self.schema, self.shard_rows = folder, split, schema, shard_rows
        self.files: list[str] = []
        self.rows = 0
        self._writer: Any = None
        self._in_shard = 0

    def write(self, batch: pa.RecordBatch) -> None:
        import pyarrow.parquet as pq

        while batch.num_rows:
            if self._writer is None:
                rel = f"{self.split}/part-{len(self.files):05d}.parquet"
                (self.folder / self.split).mkdir(parents=True, exist_ok=True)
                self._writer = pq.ParquetWriter(self.folder / rel, self.schema, compression="zstd")
                self.files.append(rel)
            room = self.shard_rows - self._in_shard
            part, batch = batch.slice(0, room), batch.slice(room)
            self._writer.write_batch(part)
            self._in_shard += part.num_rows
            self.rows += part.num_rows
            if self._in_shard >= self.shard_rows:
                self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._in_shard = 0


def _connect(res: ResolvedSource, root: Path) -> Any:
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": int(res.engine.get("threads") or os.cpu_count() or 1),
        "memory_limit": str(res.engine.get("memory_limit") or DEFAULT_MEMORY_LIMIT),
        "preserve_insertion_order": True,  # the same input gives the same shards, in order
        "file_search_path": str(root),  # paths inside a user's query are root-relative
    }
    database = res.engine.get("database", ":memory:")
    try:
        con = duckdb.connect(database, read_only=database != ":memory:", config=config)
    except duckdb.Error as exc:
        raise DataSourceError(f"cannot open DuckDB database {database}: {exc}") from None
    con.execute("SET enable_progress_bar = false")
    if res.arrow_reader is not None:
        con.register("__shipyard_src", res.arrow_reader)
    return con


def _duck_error(exc: Exception, res: ResolvedSource) -> DataSourceError:
    """DuckDB's message, first lines, naming the source; it already names file and line."""
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()][:6]
    if res.files and not any(str(f) in text for f in res.files):
        lines.insert(0, f"reading {res.description}:")
    return DataSourceError("\n  ".join(lines))


def _fail(con: Any, res: ResolvedSource, exc: Exception) -> DataSourceError:
    """The error to show for a failed read: for CSV, the rejected rows with file and line."""
    if res.kind == "csv":
        found = diagnose_csv(con, res, res.options)
        if found:
            return DataSourceError(f"cannot read {res.description}:\n  {found}")
    return _duck_error(exc, res)


def _columns(con: Any, res: ResolvedSource) -> tuple[ResolvedSource, list[str]]:
    """The source's columns, with CSV's two classic traps caught.

    A CSV whose rows do not all have the same number of fields can make the
    sniffer settle on "one column named 'a,b,c'"; reading again with the
    delimiter that name gives away turns that into an error with a line
    number. A delimiter the user set that does not fit (``a;b;c`` read with
    ``,``) is named as such.
    """
    import duckdb

    try:
        check_csv_types(con, res)
        columns = [d[0] for d in con.sql(f"SELECT * FROM {res.sql} AS src LIMIT 0").description]
    except duckdb.Error as exc:
        raise _fail(con, res, exc) from None
    if res.kind != "csv" or len(columns) != 1:
        return res, columns
    sep = guess_delimiter(columns[0])
    user_sep = next(
        (res.options[k] for k in ("delimiter", "delim", "sep") if k in res.options), None
    )
    if sep is None:
        return res, columns
    if user_sep is not None:
        label = "a tab" if sep == "\t" else repr(sep)
        raise DataSourceError(
            f"{res.description}: read as one column named {columns[0][:60]!r}; the delimiter"
            f" looks like {label}, not {user_sep!r}: set data.source.options.delimiter"
        )
    retry = res.with_options(delimiter=sep)
    try:
        columns = [d[0] for d in con.sql(f"SELECT * FROM {retry.sql} AS src LIMIT 0").description]
    except duckdb.Error as exc:
        raise _fail(con, retry, exc) from None
    return retry, columns


def ingest(
    source: Any,
    out_dir: Path,
    *,
    root: Path,
    splits: dict[str, Any] | None = None,
    seed: int = 0,
    key: str | None = None,
    target: str | None = None,
    target_expr: str | None = None,
    as_of: datetime | None = None,
    statistics: bool = True,
    progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Read ``source`` into a :class:`Dataset` under ``out_dir``, split and summarized.

    Parameters
    ----------
    source
        ``data.source`` (a config section or a dict: kind, path, url, table, query, options).
    out_dir
        An empty folder; the shards and ``dataset.json`` are written there.
    root
        The project root: relative paths, in the config and inside DuckDB queries, resolve here.
    splits
        ``data.splits`` as a dict; ``None`` keeps all rows in one split, ``all``.
    target, target_expr
        A derived target: the SQL expression is computed per row into column ``target``.
    as_of
        Rows whose ``splits.time_column`` is later are left out.
    progress
        Called with the number of rows read so far, after each batch.

    Raises
    ------
    DataSourceError
        The source cannot be read, or holds no row; the message names the file.
    ConfigError
        A column named in the config is not in the data.
    """
    started = time.time()
    res = resolve_source(source, root=root)
    con = _connect(res, root)
    try:
        return _ingest(
            con,
            res,
            out_dir,
            splits,
            seed,
            key,
            target,
            target_expr,
            as_of,
            statistics,
            progress,
            started,
        )
    finally:
        con.close()


def _ingest(
    con: Any,
    res: ResolvedSource,
    out_dir: Path,
    splits: dict[str, Any] | None,
    seed: int,
    key: str | None,
    target: str | None,
    target_expr: str | None,
    as_of: datetime | None,
    statistics: bool,
    progress: Callable[[int], None] | None,
    started: float,
) -> IngestResult:
    import duckdb

    res, columns = _columns(con, res)
    named = {
        "data.key": key,
        **{f"data.splits.{f}": (splits or {}).get(f) for f in ("time_column", "group_column")},
    }
    for field, col in named.items():
        if col and col not in columns:
            raise ConfigError(
                f"column {col!r} is not in the data; its columns are {columns}", field=field
            )
    derived = ""
    if target_expr:
        if not target:
            raise ConfigError(
                "target_expr needs target, the derived column's name", field="data.target"
            )
        if target in columns:
            raise ConfigError(
                f"target {target!r} is derived by target_expr but the data already has that column",
                field="data.target",
            )
        derived = f", ({target_expr}) AS {quote_ident(target)}"
    elif target and target not in columns:
        raise ConfigError(
            f"target {target!r} is not a column; the columns are {columns}", field="data.target"
        )
    where = ""
    time_column = (splits or {}).get("time_column")
    if as_of is not None:
        if not time_column:
            raise ConfigError(
                "as_of needs data.splits.time_column to know each row's time", field="data.as_of"
            )
        where = f" WHERE {quote_ident(time_column)} <= TIMESTAMP {sql_literal(as_of.isoformat(sep=' '))}"
    relation = f"(SELECT *{derived} FROM {res.sql} AS src{where})"
    if splits is None:
        split_sql, names = "'all'", ["all"]
    else:
        cutoffs = [_as_datetime(c) for c in splits.get("cutoffs") or []]
        cut_query = time_cutoffs_query(splits, relation)
        try:
            if cut_query is not None:
                found = con.sql(cut_query).fetchall()[0][0] or []
                cutoffs = (
                    (cutoffs + [v for v in found if v is not None])[:2] if cutoffs else list(found)
                )
                if not cutoffs:
                    raise DataSourceError(
                        f"{res.description}: column {time_column!r} has no values to split by time"
                    )
        except duckdb.Error as exc:
            raise _duck_error(exc, res) from None
        split_sql = split_expression(
            splits,
            seed=seed,
            key=key,
            columns=columns + ([target] if derived and target else []),
            cutoffs=cutoffs,
        )
        names = list(SPLITS)
    query = f"SELECT t.*, {split_sql} AS __split FROM {relation} AS t"
    batch_rows = int(res.engine.get("batch_rows") or DEFAULT_BATCH_ROWS)
    shard_rows = int(res.engine.get("shard_rows") or DEFAULT_SHARD_ROWS)
    stats_by_split: dict[str, Any] = {}
    if statistics:
        from ..validate.stats import DatasetStatistics

        stats_by_split = {n: DatasetStatistics() for n in names}
    writers: dict[str, _ShardWriter] = {}
    dropped = total = 0
    schema: pa.Schema | None = None
    try:
        reader = con.sql(query).to_arrow_reader(batch_rows)
        schema = reader.schema.remove(reader.schema.get_field_index("__split"))
        writers = {n: _ShardWriter(out_dir, n, schema, shard_rows) for n in names}
        for batch in reader:
            split_col = batch.column(batch.num_columns - 1)
            data = pa.RecordBatch.from_arrays(batch.columns[:-1], schema=schema)
            total += batch.num_rows
            if len(names) == 1:
                parts = {names[0]: data}
            else:
                parts = {n: data.filter(pc.equal(split_col, n)) for n in names}
                dropped += batch.num_rows - sum(p.num_rows for p in parts.values())
            for n, part in parts.items():
                if part.num_rows:
                    writers[n].write(part)
                    if statistics:
                        stats_by_split[n].update(part)
            if progress is not None:
                progress(total)
    except duckdb.Error as exc:
        raise _fail(con, res, exc) from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataSourceError(f"reading {res.description}: {exc}") from None
    finally:
        for w in writers.values():
            w.close()
    if total == 0:
        raise DataSourceError(
            f"{res.description}: no rows"
            + (" (a header without data?)" if res.kind == "csv" else "")
            + (" after as_of" if as_of is not None else "")
        )
    assert schema is not None
    meta = {
        "format": 1,
        "source": {"kind": res.kind, "description": res.description},
        "split": {
            "method": (splits or {}).get("method", "none"),
            "seed": seed,
            "key": key,
            "duckdb": duckdb.__version__,  # its hash() decides random and group splits
        },
        "splits": {n: {"rows": writers[n].rows, "files": writers[n].files} for n in names},
        "split_order": names,
        "rows_without_split": dropped,
        "schema": schema_to_json(schema),
        "arrow_schema": base64.b64encode(schema.serialize().to_pybytes()).decode(),
        "target": target,
    }
    stats = None
    if statistics:
        from ..validate.stats import Statistics

        stats = Statistics(stats_by_split)
    ds = Dataset(out_dir, meta)
    _write_meta(out_dir, meta)
    return IngestResult(ds, stats, time.time() - started)


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    import json

    (folder / "dataset.json").write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "T00:00:00"
    return datetime.fromisoformat(text)


def read_batches(
    source: Any, *, root: Path, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Stream any source as Arrow record batches (no split, nothing written).

    For ``shipyard data stats`` and ``data validate`` on a file, glob or query.
    The same checks and error messages as :func:`ingest`.
    """
    import duckdb

    res = resolve_source(source, root=root)
    con = _connect(res, root)
    try:
        res, _ = _columns(con, res)
        try:
            reader = con.sql(f"SELECT * FROM {res.sql} AS src").to_arrow_reader(batch_rows)
            total = 0
            for batch in reader:
                total += batch.num_rows
                yield batch
        except duckdb.Error as exc:
            raise _fail(con, res, exc) from None
        if total == 0:
            raise DataSourceError(
                f"{res.description}: no rows"
                + (" (a header without data?)" if res.kind == "csv" else "")
            )
    finally:
        con.close()
