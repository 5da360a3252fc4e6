"""Batch prediction: CSV or Parquet in, Parquet out, in batches (bounded memory).

The bundle's own transform runs on each batch, the same function the server
calls, and the output columns are those of the task (``output.py``), after the
columns kept from the input (the data's key by default).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError, DataSourceError
from .bundle import Bundle

__all__ = ["BatchResult", "predict_file"]

DEFAULT_BATCH_ROWS = 65_536
# The null spellings of CSV files from R, pandas and databases (flights uses NA).
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None"]
_CSV = (".csv", ".csv.gz", ".tsv")
_PARQUET = (".parquet", ".pq")


@dataclass(frozen=True)
class BatchResult:
    """What a batch prediction did."""

    input: str
    output: str
    rows: int
    batches: int
    seconds: float
    columns: list[str]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_CSV):
        return "csv"
    if name.endswith(_PARQUET):
        return "parquet"
    raise ConfigError(
        f"cannot predict from {path}: expected a .csv, .csv.gz, .tsv, .parquet or .pq file"
    )


def _delimiter(path: Path) -> str:
    return "\t" if path.name.lower().endswith(".tsv") else ","


def _csv_batches(
    path: Path, types: dict[str, pa.DataType], columns: list[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        path,
        # Blocks of about batch_rows rows (64 bytes a row is typical of tabular CSV).
        read_options=pacsv.ReadOptions(block_size=max(1 << 20, batch_rows * 64)),
        parse_options=pacsv.ParseOptions(delimiter=_delimiter(path)),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=columns,
            null_values=NULL_VALUES,
            strings_can_be_null=True,
        ),
    )
    return iter(reader)


def _file_columns(path: Path, kind: str) -> list[str]:
    if kind == "parquet":
        return list(pq.read_schema(path).names)
    import pyarrow.csv as pacsv

    with pacsv.open_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=_delimiter(path)),
    ) as reader:
        return list(reader.schema.names)


def predict_file(
    bundle: Bundle,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    keep: Sequence[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
) -> BatchResult:
    """Predict every row of ``source`` (CSV or Parquet) into the Parquet file ``output``.

    Parameters
    ----------
    keep
        Input columns copied in front of the predictions, e.g. an ID. None: the
        bundle's key column when the file has it.
    batch_rows
        Rows per batch: memory grows with it, not with the file.
    progress
        Called with the number of rows of each batch done.

    Raises
    ------
    DataSourceError
        The input cannot be read, or lacks an input column of the model (named,
        with the columns the model reads).
    ConfigError
        An unknown file type, or a ``keep`` column the input does not have.
    """
    src, dest = Path(source), Path(output)
    if not src.is_file():
        raise DataSourceError(f"cannot predict from {src}: no such file")
    kind = _kind(src)
    if dest.suffix.lower() not in (".parquet", ".pq"):
        raise ConfigError(f"the output {dest} must be a .parquet file")
    signature = bundle.input_signature
    needed = [c["name"] for c in signature]
    try:
        present = _file_columns(src, kind)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataSourceError(f"cannot read {src}: {exc}") from None
    missing = [c for c in needed if c not in present]
    if missing:
        raise DataSourceError(
            f"{src} lacks the model's input column(s) {missing}; the model {bundle.name} reads"
            f" {needed}"
        )
    if keep is None:
        keep = [bundle.key] if bundle.key and bundle.key in present else []
    absent = [c for c in keep if c not in present]
    if absent:
        raise ConfigError(f"--keep {absent[0]!r}: {src} has no such column; it has {present}")
    outputs = {c["name"] for c in bundle.output_signature}
    clash = [c for c in keep if c in outputs]
    if clash:
        raise ConfigError(
            f"--keep {clash[0]!r} would clash with the prediction column of that name"
        )
    columns = list(dict.fromkeys([*keep, *needed]))
    types = {c["name"]: pa.type_for_alias(c["type"]) for c in signature if _simple(c["type"])}
    started = time.perf_counter()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    rows = batches = 0
    writer: pq.ParquetWriter | None = None
    try:
        if kind == "csv":
            stream = _csv_batches(src, types, columns, batch_rows)
        else:
            stream = pq.ParquetFile(src).iter_batches(batch_size=batch_rows, columns=columns)
        for batch in stream:
            try:
                predictions = bundle.predict(batch)
            except ValueError as exc:
                raise DataSourceError(
                    f"{src}, rows {rows + 1}-{rows + batch.num_rows}: {exc}"
                ) from None
            table = pa.Table.from_batches([batch]).select(keep) if keep else None
            if table is not None:
                for name in predictions.column_names:
                    table = table.append_column(name, predictions.column(name))
            else:
                table = predictions
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            rows += batch.num_rows
            batches += 1
            if progress is not None:
                progress(batch.num_rows)
        if writer is None:  # an empty input still gives a file with the output columns
            empty = bundle.predict(
                pa.table({c: pa.array([], types.get(c, pa.null())) for c in needed})
            )
            writer = pq.ParquetWriter(tmp, empty.schema)
            writer.write_table(empty)
        writer.close()
        writer = None
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except pa.ArrowInvalid as exc:
        raise DataSourceError(f"cannot read {src}: {_name_column(str(exc), present)}") from None
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return BatchResult(
        input=str(src),
        output=str(dest),
        rows=rows,
        batches=batches,
        seconds=time.perf_counter() - started,
        columns=pq.read_schema(dest).names,
    )


def _name_column(message: str, columns: list[str]) -> str:
    """pyarrow's "CSV column #2" with the column's name: "column #2 ('mean_texture')"."""

    def named(m: re.Match[str]) -> str:
        i = int(m.group(1))
        return f"{m.group(0)} ({columns[i]!r})" if 0 <= i < len(columns) else m.group(0)

    return re.sub(r"column #(\d+)", named, message)


def _simple(type_name: str) -> bool:
    try:
        pa.type_for_alias(type_name)
    except (ValueError, KeyError):
        return False
    return True
