"""Input columns to the values transforms start from, and requests to the input signature.

Numbers become float64 NumPy arrays (NULL and NaN both NaN), categories
Arrow string arrays, datetimes Arrow timestamp arrays. Rows given as Python
values (JSON-decoded lists, dicts of lists) become Arrow arrays of exactly the
signature's types first, so that the server sees what training saw. NumPy and
pyarrow only: the server imports this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Column", "coerce", "to_datetimes", "to_floats", "to_strings"]

# pyarrow ships no type hints: to mypy its classes are Any, so the alias says what is meant.
Column: TypeAlias = Any  # pa.Array | pa.ChunkedArray
F64 = npt.NDArray[np.float64]

# An ISO 8601 time of day followed by a zone: Z, +hh, +hhmm or +hh:mm.
_ZONED = r"[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d(:?\d\d)?)$"
_F64_ID = pa.float64().id
_US = pa.timestamp("us")
_US_UTC = pa.timestamp("us", "UTC")
_ISO_HINT = "expected ISO 8601 such as 2024-05-01T13:45:00 or 2024-05-01T13:45:00+02:00"


def _arrow(column: Column | np.ndarray) -> Column:
    # A float64 NumPy column (the server's fast path, see coerce) as Arrow, for the kernels
    # that need Arrow: categories, datetimes.
    return pa.array(column) if isinstance(column, np.ndarray) else column


def _decoded(column: Column) -> Column:
    column = _arrow(column)
    if pa.types.is_dictionary(column.type):
        return pc.cast(column, column.type.value_type)
    return column


def to_floats(column: Column) -> F64:
    """Numbers (integers, floats, decimals, booleans) as a writable float64 array; NULL is NaN."""
    if isinstance(column, np.ndarray) and column.dtype == np.float64:
        return np.array(column, dtype=np.float64)  # a copy: ops may write in place
    column = _decoded(column)
    if column.type != pa.float64():
        # Unsafe: integers beyond 2**53 round to the nearest double instead of failing.
        column = pc.cast(column, pa.float64(), safe=False)
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    if not values.flags.writeable or not values.flags.c_contiguous:
        values = np.array(values, dtype=np.float64)
    return values


def to_strings(column: Column) -> pa.Array:
    """Categories as one Arrow string array (numbers and booleans as Arrow writes them)."""
    column = _arrow(column)
    if column.type != pa.string():
        column = pc.cast(column, pa.string())
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column


def _bad_example(strings: pa.Array, target: pa.DataType) -> str | None:
    # Only on the error path: find one value that does not parse, to name it.
    for value in strings.drop_null().to_pylist():
        try:
            pc.cast(pa.array([value]), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return str(value)
    return None


def parse_datetimes(strings: pa.Array, name: str) -> pa.Array:
    """ISO 8601 strings as naive ``timestamp[us]``: strings with a zone are converted to UTC.

    Raises
    ------
    ValueError
        Naming the column and a value that is not a datetime.
    """
    zoned = pc.match_substring_regex(strings, _ZONED)
    n_zoned = pc.sum(zoned).as_py() or 0
    n_valid = len(strings) - strings.null_count
    try:
        if n_zoned == 0:
            return pc.cast(strings, _US)
        if n_zoned == n_valid:
            return pc.cast(pc.cast(strings, _US_UTC), _US)
        naive = pc.cast(pc.if_else(zoned, None, strings), _US)
        aware = pc.cast(pc.cast(pc.if_else(zoned, strings, None), _US_UTC), _US)
        return pc.if_else(zoned, aware, naive)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        bad = _bad_example(strings, _US) if n_zoned == 0 else None
        shown = f" such as {bad!r}" if bad is not None else ""
        raise ValueError(
            f"column {name!r} holds values{shown} that are not datetimes; {_ISO_HINT}"
        ) from None


def to_datetimes(column: Column, name: str) -> pa.Array:
    """Timestamps (any unit, with or without a time zone), dates or ISO strings, as timestamps.

    Timestamps keep their unit and zone (their parts are read in that zone);
    dates become midnight; strings are parsed by :func:`parse_datetimes`.
    """
    column = _decoded(column)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    type_ = column.type
    if pa.types.is_timestamp(type_):
        return column
    if pa.types.is_date(type_):
        return pc.cast(column, pa.timestamp("s"))
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return parse_datetimes(pc.cast(column, pa.string()), name)
    raise TypeError(f"column {name!r} is {type_}; a datetime feature needs timestamps or strings")


def _from_python(values: Any, type_: pa.DataType, name: str) -> Column:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        array: Column = values
    elif isinstance(values, np.ndarray):
        array = pa.array(values)
    else:
        try:
            return pa.array(values, type=type_)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            try:
                array = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"column {name!r}: cannot read the values as {type_}: {exc}"
                ) from None
    return array


def _cast(array: Column, type_: pa.DataType, name: str) -> Column:
    if array.type == type_:
        return array
    if pa.types.is_timestamp(type_) and (
        pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    ):
        strings = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
        array = parse_datetimes(pc.cast(strings, pa.string()), name)
        # Parsed values are UTC wall times; safe=False truncates sub-unit digits.
        return pc.cast(array, type_, safe=False)
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), type_)
    try:
        return pc.cast(array, type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ValueError(
            f"column {name!r} is {array.type} and cannot be read as {type_}, the type the"
            f" transform was fitted on: {exc}"
        ) from None


def coerce(batch: Any, schema: pa.Schema) -> tuple[dict[str, Column], int]:
    """The input columns of ``batch`` as ``schema``'s types, and the number of rows.

    ``batch`` is a ``pyarrow.RecordBatch`` or ``Table``, or a mapping of column name
    to a NumPy array, a list of Python values or an Arrow array. Other columns
    are ignored. A 1-D float64 NumPy column of a float64 field comes back as it
    is (NumPy, NaN for missing); every other column as an Arrow array.

    Raises
    ------
    ValueError
        A column is missing, the columns differ in length, or a column's values
        cannot be read as its type; the message names the column.
    TypeError
        ``batch`` is none of the above.
    """
    if isinstance(batch, pa.RecordBatch | pa.Table):
        present = set(batch.schema.names)
        get = batch.column
        rows = batch.num_rows
    elif isinstance(batch, Mapping):
        present = set(batch)
        get = batch.__getitem__
        rows = -1
    else:
        raise TypeError(
            "a transform applies to a pyarrow RecordBatch or Table, or a mapping of column"
            f" name to values; got {type(batch).__name__}"
        )
    missing = [n for n in schema.names if n not in present]
    if missing:
        raise ValueError(
            f"missing input columns {missing}; the transform reads {list(schema.names)}"
        )
    columns: dict[str, Column] = {}
    f64 = np.dtype(np.float64)
    for name, type_ in zip(schema.names, schema.types, strict=True):
        values = get(name)
        if (
            type(values) is np.ndarray
            and values.dtype is f64
            and values.ndim == 1
            and type_.id == _F64_ID
        ):
            # Float64 NumPy stays NumPy (NaN is missing either way): no round trip through
            # Arrow for the numbers a server has already checked.
            array = values
        else:
            array = _cast(_from_python(values, type_, name), type_, name)
        if rows < 0:
            rows = len(array)
        elif len(array) != rows:
            raise ValueError(
                f"column {name!r} has {len(array)} values and the others {rows}; every"
                " column needs one value per row"
            )
        columns[name] = array
    if rows < 0:  # no input columns at all: nothing tells the rows apart
        rows = 0
        if isinstance(batch, Mapping) and batch:
            rows = len(next(iter(batch.values())))
    return columns, rows
