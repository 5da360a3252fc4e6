"""MLflow's scoring protocol (``POST /invocations``) and the plain ``POST /predict``.

MLflow clients send one of ``dataframe_split`` (``{"columns": [...], "data":
[[...]]}``), ``dataframe_records`` (``[{...}]``), ``instances`` or ``inputs``
(records, rows in signature order, or for ``inputs`` also ``{feature:
[values]}``), or a CSV file with a header (``text/csv``). The answer is
``{"predictions": [{column: value}, ...]}``, one record per row.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pyarrow as pa

from ..errors import RequestError
from ._signature import Checked, Signature

__all__ = ["MLFLOW_KEYS", "decode_csv", "decode_invocations", "decode_predict", "records"]

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def records(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of an output table as JSON objects (null for NaN)."""
    names = table.column_names
    columns = []
    for name in names:
        column = table.column(name)
        if column.null_count == 0 and column.num_chunks == 1 and column.type.num_fields == 0:
            columns.append(column.chunk(0).to_numpy().tolist())  # faster than to_pylist
        else:
            columns.append(column.to_pylist())
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _rows_or_records(sig: Signature, value: Any, key: str) -> tuple[Checked, int]:
    if not isinstance(value, list):
        raise RequestError(f"'{key}' must be a list of records or rows")
    if value and isinstance(value[0], list):
        return sig.from_rows(value, sig.names)
    return sig.from_records(value)


def decode_invocations(sig: Signature, payload: Any) -> tuple[Checked, int]:
    """Checked columns and row count of an MLflow JSON payload."""
    if not isinstance(payload, dict):
        raise RequestError(f"expected a JSON object with one of {', '.join(MLFLOW_KEYS)}")
    keys = [k for k in MLFLOW_KEYS if k in payload]
    unknown = [k for k in payload if k not in MLFLOW_KEYS and k != "params"]
    if len(keys) != 1 or unknown:
        raise RequestError(
            f"expected exactly one of {', '.join(MLFLOW_KEYS)} (and optionally params);"
            f" got {len(keys)} of them" + (" and other keys" if unknown else "")
        )
    key = keys[0]
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise RequestError("'dataframe_split' must be an object with 'columns' and 'data'")
        columns = value.get("columns", sig.names)
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise RequestError("'dataframe_split.columns' must be a list of feature names")
        sig.check_names(columns)
        return sig.from_rows(value["data"], columns)
    if key == "dataframe_records":
        return sig.from_records(value)
    if key == "inputs" and isinstance(value, dict):
        return sig.columns(value)
    return _rows_or_records(sig, value, key)


_CSV_COLUMN = re.compile(r"column #(\d+)")


def decode_csv(sig: Signature, body: bytes) -> tuple[Checked, int]:
    """Checked columns of a CSV body with a header row (empty, NA and null are missing)."""
    from pyarrow import csv

    if not body.strip():
        return sig.columns({n: [] for n in sig.names})
    try:
        header = csv.read_csv(
            io.BytesIO(body), read_options=csv.ReadOptions(block_size=1 << 20)
        ).schema.names
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        header = None
    if header is None:
        raise RequestError("malformed CSV: expected a header row and rows of the same width")
    sig.check_names(header)
    types = {}
    for name in sig.names:
        t = sig.types[name]
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
        types[name] = pa.float64() if numeric else pa.string()
    try:
        table = csv.read_csv(
            io.BytesIO(body),
            convert_options=csv.ConvertOptions(
                column_types=types,
                null_values=["", "NA", "null", "NaN"],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        found = _CSV_COLUMN.search(str(exc))
        where = ""
        if found and int(found.group(1)) < len(header):
            where = f" in column {header[int(found.group(1))]!r}"
        raise RequestError(f"malformed CSV: a value cannot be read as its type{where}") from None
    data: dict[str, Any] = {}
    for name in sig.names:
        column = table.column(name)
        if types[name] == pa.float64():
            data[name] = column.to_numpy()
        else:
            data[name] = column.to_pylist()
    return sig.columns(data)


def decode_predict(sig: Signature, payload: Any) -> tuple[Checked, int]:
    """Checked columns of ``{"records": [{feature: value, ...}, ...]}``."""
    if not isinstance(payload, dict) or "records" not in payload or len(payload) != 1:
        raise RequestError('expected a JSON object {"records": [{feature: value, ...}, ...]}')
    return sig.from_records(payload["records"])
