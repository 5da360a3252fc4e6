"""Sources: files, globs, SQL databases and DuckDB queries, as one DuckDB relation.

Every source becomes SQL that DuckDB can stream from: ``read_csv``,
``read_parquet`` and ``read_json`` over the matched files (DuckDB parses in
parallel and never loads the whole input), a user's DuckDB query, or a
SQLAlchemy cursor streamed as Arrow batches and registered with DuckDB. The
checks here turn the usual ways data is broken into errors that name the file
(and line, where DuckDB knows it) instead of a parser's stack trace.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import DataSourceError

__all__ = ["ResolvedSource", "resolve_source", "sql_literal"]

_SUFFIX_KIND = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
# Reader options a user may pass through data.source.options, by reader.
_CSV_OPTIONS = {"delim", "delimiter", "sep", "header", "quote", "escape", "encoding", "buffer_size",
                "nullstr", "dateformat", "timestampformat", "skip", "comment",
                "decimal_separator", "columns", "types", "all_varchar", "sample_size",
                "ignore_errors", "strict_mode"}  # fmt: skip
_PARQUET_OPTIONS = {"hive_partitioning", "union_by_name", "filename"}
_JSON_OPTIONS = {"columns", "dateformat", "timestampformat", "sample_size"}
_ENGINE_OPTIONS = {"threads", "memory_limit", "batch_rows", "shard_rows"}


def sql_literal(value: Any) -> str:
    """A SQL literal for a config value: strings quoted (quotes doubled), numbers, booleans, lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(sql_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{sql_literal(str(k))}: {sql_literal(v)}" for k, v in value.items())
            + "}"
        )
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class ResolvedSource:
    """A source ready to stream: the SQL DuckDB reads, and what it reads from."""

    kind: str
    sql: str  # a relation: read_csv(...), (query), or __shipyard_src
    files: list[Path] = field(default_factory=list)
    description: str = ""
    arrow_reader: pa.RecordBatchReader | None = None  # sql sources: registered as __shipyard_src
    engine: dict[str, Any] = field(default_factory=dict)  # threads, memory_limit, batch_rows ...
    options: dict[str, Any] = field(default_factory=dict)  # the reader's options (files)

    def with_options(self, **extra: Any) -> ResolvedSource:
        """The same files read with more reader options (e.g. an explicit delimiter)."""
        options = {**self.options, **extra}
        sql = _file_sql(self.kind, self.files, options)
        return ResolvedSource(
            self.kind, sql, self.files, self.description, None, self.engine, options
        )


def resolve_source(source: Any, *, root: Path) -> ResolvedSource:
    """Turn a ``data.source`` config (or an equivalent dict) into a :class:`ResolvedSource`.

    Raises
    ------
    DataSourceError
        No file matches, a file is empty, shards disagree on a column's type,
        an option is unknown, or the database cannot be reached.
    """
    src = _as_dict(source)
    options = dict(src.get("options") or {})
    engine = {k: options.pop(k) for k in list(options) if k in _ENGINE_OPTIONS}
    kind = src.get("kind") or "auto"
    path = src.get("path")
    if kind == "auto":
        if (
            src.get("query")
            and not path
            and not src.get("url", "").startswith(("postgres", "sqlite", "mysql"))
        ):
            kind = "duckdb"
        elif src.get("url") and (src.get("table") or src.get("query")):
            kind = "sql" if not str(src["url"]).startswith("duckdb") else "duckdb"
        elif path:
            kind = _kind_of(str(path))
        else:
            raise DataSourceError(
                "data.source needs a path, a url with a table or query, or a query"
            )
    if kind in ("csv", "parquet", "jsonl"):
        files = _match(str(path), root, kind)
        res = ResolvedSource(
            kind, _file_sql(kind, files, options), files, _describe(files), options=options
        )
    elif kind == "duckdb":
        res = _duckdb_source(src, options)
    elif kind == "sql":
        res = _sql_source(src)
    else:
        raise DataSourceError(
            f"data.source.kind {kind!r} is not one of csv, parquet, jsonl, sql, duckdb"
        )
    res.engine = engine
    return res


def _as_dict(source: Any) -> dict[str, Any]:
    if isinstance(source, dict):
        return source
    if hasattr(source, "model_dump"):
        return dict(source.model_dump())
    raise DataSourceError(f"data.source must be a mapping, got {type(source).__name__}")


def _kind_of(path: str) -> str:
    p = path.rstrip("/")
    for suffix, kind in _SUFFIX_KIND.items():
        if p.endswith(suffix) or p.endswith(suffix + ".gz") or p.endswith(suffix + ".zst"):
            return kind
    folder = Path(p)
    if folder.is_dir():
        if any(folder.rglob("*.parquet")):
            return "parquet"
        if any(folder.rglob("*.csv")):
            return "csv"
    raise DataSourceError(
        f"data.source.path {path}: cannot tell the format from its name;"
        " set data.source.kind to csv, parquet or jsonl"
    )


def _match(pattern: str, root: Path, kind: str) -> list[Path]:
    """The files a path, folder or glob names, sorted, with the usual problems caught."""
    p = Path(pattern)
    p = p if p.is_absolute() else root / p
    text = str(p)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
        if not files:
            raise DataSourceError(f"data.source.path {pattern}: no file matches this pattern")
    elif p.is_dir():
        ext = {
            "csv": ("*.csv", "*.csv.gz", "*.tsv"),
            "parquet": ("*.parquet",),
            "jsonl": ("*.jsonl", "*.json", "*.ndjson"),
        }[kind]
        files = sorted(f for e in ext for f in p.rglob(e) if f.is_file())
        if not files:
            raise DataSourceError(f"data.source.path {pattern}: the folder holds no {kind} file")
    elif p.is_file():
        files = [p]
    else:
        raise DataSourceError(f"data.source.path {pattern}: no such file or folder ({p})")
    for f in files:
        try:
            size = f.stat().st_size
            with open(f, "rb") as fh:
                head = fh.read(4)
        except OSError as exc:
            raise DataSourceError(f"{f}: cannot be read: {exc.strerror}") from exc
        if size == 0:
            raise DataSourceError(f"{f}: the file is empty")
        if kind == "parquet" and head != b"PAR1":
            raise DataSourceError(f"{f}: not a Parquet file (it does not start with PAR1)")
    if kind == "parquet" and len(files) > 1:
        _check_parquet_types(files)
    return files


def _check_parquet_types(files: list[Path]) -> None:
    """Shards must agree on each column's kind of type (int vs float may widen; text vs number may not)."""
    import pyarrow.parquet as pq

    seen: dict[str, tuple[str, pa.DataType, Path]] = {}
    for f in files:
        try:
            schema = pq.read_schema(f)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataSourceError(f"{f}: not a readable Parquet file: {exc}") from exc
        for fld in schema:
            family = _family(fld.type)
            if (
                fld.name in seen
                and seen[fld.name][0] != family
                and "null" not in (family, seen[fld.name][0])
            ):
                _, other_type, other_file = seen[fld.name]
                raise DataSourceError(
                    f"column {fld.name!r} is {other_type} in shard {other_file} but {fld.type}"
                    f" in shard {f}; make the shards agree (or cast the column in a DuckDB query)"
                )
            seen.setdefault(fld.name, (family, fld.type, f))


def _family(t: pa.DataType) -> str:
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return "text"
    if pa.types.is_temporal(t):
        return "time"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_null(t):
        return "null"
    return str(t)


def _options_sql(options: dict[str, Any], allowed: set[str], reader: str) -> str:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise DataSourceError(
            f"data.source.options {unknown} are not options of the {reader} reader;"
            f" known: {sorted(allowed | _ENGINE_OPTIONS)}"
        )
    renamed = {("delim" if k in ("delimiter", "sep") else k): v for k, v in options.items()}
    return "".join(f", {k} = {sql_literal(v)}" for k, v in renamed.items())


def _file_sql(kind: str, files: list[Path], options: dict[str, Any]) -> str:
    paths = sql_literal([str(f) for f in files])
    if kind == "csv":
        # A 4 MiB read buffer per thread (DuckDB's default is larger) keeps the working set
        # small without slowing parsing measurably.
        opts = {"header": True, "buffer_size": 4 * 1024 * 1024, **options}
        return f"read_csv({paths}{_options_sql(opts, _CSV_OPTIONS, 'CSV')})"
    if kind == "parquet":
        opts = {"hive_partitioning": True, "union_by_name": True, **options}
        return f"read_parquet({paths}{_options_sql(opts, _PARQUET_OPTIONS, 'Parquet')})"
    opts = {"format": "newline_delimited", **options}
    allowed = _JSON_OPTIONS | {"format"}
    return f"read_json({paths}{_options_sql(opts, allowed, 'JSON')})"


def _describe(files: list[Path]) -> str:
    if len(files) == 1:
        return str(files[0])
    return f"{len(files)} files: {files[0]} ... {files[-1]}"


def _duckdb_source(src: dict[str, Any], options: dict[str, Any]) -> ResolvedSource:
    if options:
        raise DataSourceError(
            f"data.source.options {sorted(options)}: a DuckDB query takes its reader options"
            " inside the query; only threads and memory_limit apply"
        )
    query = src.get("query")
    if query:
        body = query.strip().rstrip(";")
        code = re.sub(r"--[^\n]*|'(?:[^']|'')*'", "", body)  # comments and strings aside
        if ";" in code:
            raise DataSourceError("data.source.query must be one SELECT statement (found ';')")
        sql = f"({body}\n)"  # the newline: a trailing -- comment must not swallow the ')'

    else:
        sql = _ident(str(src["table"]))
    res = ResolvedSource(
        "duckdb", sql, description="DuckDB query" if query else f"table {src['table']}"
    )
    url = src.get("url")
    if url:
        res.engine["database"] = str(url).removeprefix("duckdb:///")
    return res


def _ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
        raise DataSourceError(f"data.source.table {name!r} is not a plain table name")
    return ".".join('"' + part + '"' for part in name.split("."))


def _mask(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _sql_source(src: dict[str, Any], chunk_rows: int = 50_000) -> ResolvedSource:
    """A SQLAlchemy query streamed in chunks (server-side cursor) as Arrow batches."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    url = str(src["url"])
    table = _ident(str(src["table"])) if not src.get("query") else ""
    query = src.get("query") or f"SELECT * FROM {table}"
    what = f"{_mask(url)} ({'query' if src.get('query') else 'table ' + str(src['table'])})"
    try:
        engine = create_engine(url, connect_args=_connect_args(url))
        conn = engine.connect()
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
            text(query)
        )
        names = list(result.keys())
        first = result.fetchmany(chunk_rows)
    except (SQLAlchemyError, ModuleNotFoundError) as exc:
        detail = getattr(exc, "orig", None) or exc
        raise DataSourceError(
            f"cannot read {what}: {str(detail).strip().splitlines()[0]}"
        ) from None
    schema = _infer_schema(names, first)

    def chunks() -> Iterator[pa.RecordBatch]:
        rows = first
        start = 0
        try:
            while rows:
                try:
                    yield pa.RecordBatch.from_arrays(
                        [
                            pa.array(col, type=f.type)
                            for col, f in zip(zip(*rows, strict=True), schema, strict=True)
                        ],
                        schema=schema,
                    )
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise DataSourceError(
                        f"{what}, rows {start}-{start + len(rows) - 1}: {exc}"
                    ) from None
                start += len(rows)
                rows = result.fetchmany(chunk_rows)
        finally:
            conn.close()
            engine.dispose()

    reader = pa.RecordBatchReader.from_batches(schema, chunks())
    return ResolvedSource("sql", "__shipyard_src", description=what, arrow_reader=reader)


def _connect_args(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        return {"connect_timeout": 10}
    if url.startswith("sqlite"):
        return {"timeout": 30}
    return {}


def _infer_schema(names: list[str], rows: Sequence[Any]) -> pa.Schema:
    fields = []
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        try:
            t = pa.array(values).type
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            t = pa.string()
        if pa.types.is_null(t):
            t = pa.string()
        if pa.types.is_decimal(t):
            t = pa.float64()
        fields.append(pa.field(name, t))
    return pa.schema(fields)


# -- CSV diagnostics: DuckDB's sniffer is fast but vague when a file is broken ----------

_FAMILY_OF_DUCK = {
    "BIGINT": "number", "INTEGER": "number", "SMALLINT": "number", "TINYINT": "number",
    "HUGEINT": "number", "DOUBLE": "number", "FLOAT": "number", "DECIMAL": "number",
    "UBIGINT": "number", "UINTEGER": "number", "VARCHAR": "text", "BOOLEAN": "bool",
    "DATE": "time", "TIMESTAMP": "time", "TIME": "time", "TIMESTAMP WITH TIME ZONE": "time",
}  # fmt: skip


def check_csv_types(con: Any, res: ResolvedSource) -> None:
    """Each file is sniffed alone; a column numeric in one file and text in another is an error.

    Read together, DuckDB would quietly make such a column text in every file.
    """
    if res.kind != "csv" or len(res.files) < 2:
        return
    seen: dict[str, tuple[str, str, Path]] = {}
    for f in res.files:
        rows = con.sql(f"SELECT Columns FROM sniff_csv({sql_literal(str(f))})").fetchall()
        for col in rows[0][0] if rows else []:
            duck = str(col["type"])
            family = _FAMILY_OF_DUCK.get(duck.split("(")[0], duck)
            name = str(col["name"])
            if name in seen and seen[name][0] != family:
                _, other, other_file = seen[name]
                raise DataSourceError(
                    f"column {name!r} is {other} in {other_file} but {duck} in {f};"
                    " make the files agree, or set its type in data.source.options.types"
                )
            seen.setdefault(name, (family, duck, f))


def diagnose_csv(con: Any, res: ResolvedSource, options: dict[str, Any]) -> str | None:
    """Re-read a CSV source keeping rejected rows; describe the first ones with file and line."""
    opts = {"header": True, **options, "store_rejects": True}
    try:
        con.sql(
            f"SELECT count(*) FROM read_csv({sql_literal([str(f) for f in res.files])}{_options_sql(opts, _CSV_OPTIONS | {'store_rejects'}, 'CSV')})"
        ).fetchall()
        rows = con.sql(
            "SELECT s.file_path, e.line, e.column_name, e.error_type, e.error_message"
            " FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id)"
            " ORDER BY e.line LIMIT 3"
        ).fetchall()
    except Exception:  # noqa: BLE001 - diagnosis is best effort; the original error stands
        return None
    if not rows:
        return None
    parts = []
    for path, line, column, kind, message in rows:
        where = f"{path}:{line}" + (f" (column {column!r})" if column else "")
        parts.append(f"{where}: {str(kind).lower()}: {message}")
    return "\n  ".join(parts)


def guess_delimiter(name: str) -> str | None:
    """A delimiter that a lone column's name gives away (``a;b;c``), if any."""
    for sep in (",", ";", "\t", "|"):
        if sep in name:
            return sep
    return None
