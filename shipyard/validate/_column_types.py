"""The portable type vocabulary of a schema, and Arrow values to and from it.

A schema names types in a few portable words (``float``, ``int``, ``string``
...) rather than Arrow's exact types, because the exact type of the same data
changes with the reader: CSV gives ``int64`` where Parquet kept ``int32``,
Polars writes ``large_string`` where pandas wrote ``string``. Those are not
anomalies; an ``int`` column arriving as ``double`` is.

Statistics record types as strings (``str(pa.DataType)``), so every mapping
here works on those strings; an Arrow type goes through ``str()`` first.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa

ColumnType = Literal["float", "int", "string", "bool", "timestamp", "date", "binary", "other"]
"""The portable types a schema column can have."""

JsonScalar = str | int | float | bool | None
"""What an example value becomes in an anomaly: JSON without NaN."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_US_PER_DAY = 86_400 * 10**6
# Microseconds per storage unit; nanoseconds are handled apart (a fraction).
_US_PER_UNIT = {"s": 10**6, "ms": 10**3, "us": 1}

_PREFIXES: tuple[tuple[str, ColumnType], ...] = (
    ("timestamp[", "timestamp"),
    ("date32", "date"),
    ("date64", "date"),
    ("decimal", "float"),
    ("fixed_size_binary", "binary"),
)
_EXACT: dict[str, ColumnType] = {
    "halffloat": "float",
    "float": "float",
    "double": "float",
    "bool": "bool",
    "string": "string",
    "large_string": "string",
    "string_view": "string",
    "utf8": "string",
    "large_utf8": "string",
    "binary": "binary",
    "large_binary": "binary",
    "binary_view": "binary",
    **{f"{sign}int{bits}": "int" for sign in ("", "u") for bits in (8, 16, 32, 64)},
}
_DICTIONARY = re.compile(r"dictionary<values=(?P<values>.+), indices=\w+, ordered=[01]>")


def portable_type(arrow_type: str | pa.DataType) -> ColumnType:
    """Return the portable type of an Arrow type or its string form.

    Dictionary-encoded columns take the type of their values; decimals count
    as ``float`` (a number with a fraction); lists, structs, durations and the
    like are ``other``.
    """
    text = str(arrow_type)
    if text in _EXACT:
        return _EXACT[text]
    for prefix, kind in _PREFIXES:
        if text.startswith(prefix):
            return kind
    match = _DICTIONARY.fullmatch(text)
    if match:
        return portable_type(match["values"])
    return "other"


def same_other_type(expected: str, actual: str) -> bool:
    """Whether two ``other`` types are the same up to 32/64-bit offsets.

    ``list<item: int64>`` and ``large_list<item: int64>`` hold the same data.
    """
    return expected.replace("large_", "") == actual.replace("large_", "")


def timestamp_tz(arrow_type: str) -> str | None:
    """The time zone of a ``timestamp[unit, tz=...]`` type string, or None."""
    _, sep, tz = arrow_type.partition("tz=")
    return tz.rstrip("]") if sep else None


# -- bounds of timestamps and dates -------------------------------------------------


def parse_instant(text: str, kind: ColumnType) -> datetime:
    """Read an ISO 8601 bound as a UTC datetime; a time without offset is UTC.

    Raises
    ------
    ValueError
        When ``text`` is not ISO 8601 (for ``date``: not ``YYYY-MM-DD``).
    """
    if kind == "date":
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def epoch_seconds(text: str, kind: ColumnType) -> float:
    """An ISO bound as seconds since 1970 (how statistics record datetimes)."""
    return (parse_instant(text, kind) - _EPOCH) / timedelta(seconds=1)


def format_instant(seconds: float, kind: ColumnType, arrow_type: str = "") -> str:
    """Write epoch ``seconds`` as ISO 8601: a date, or a timestamp with ``+00:00`` if zoned."""
    moment = _EPOCH + timedelta(seconds=seconds)
    if kind == "date":
        return moment.date().isoformat()
    if timestamp_tz(arrow_type) is None:
        return moment.replace(tzinfo=None).isoformat()
    return moment.isoformat()


def storage_bounds(
    arrow_type: pa.DataType, low: str | None, high: str | None, kind: ColumnType
) -> tuple[int | None, int | None]:
    """Bounds in the integer storage unit of a timestamp or date column.

    Comparing the integers Arrow stores (a zero-copy cast) avoids converting
    every value; the bounds are rounded inwards so that a value is out of range
    exactly when the instant it stands for is.
    """
    if pa.types.is_date32(arrow_type):
        per_unit: int | None = _US_PER_DAY
    elif pa.types.is_date64(arrow_type):
        per_unit = _US_PER_UNIT["ms"]
    else:
        per_unit = _US_PER_UNIT.get(arrow_type.unit)  # None: nanoseconds

    def convert(text: str | None, *, ceil: bool) -> int | None:
        if text is None:
            return None
        micros = (parse_instant(text, kind) - _EPOCH) // _US
        if per_unit is None:
            return micros * 1000
        return -(-micros // per_unit) if ceil else micros // per_unit

    return convert(low, ceil=True), convert(high, ceil=False)


def storage_type(arrow_type: pa.DataType) -> pa.DataType:
    """The integer type Arrow stores a timestamp or date column as."""
    return pa.int32() if pa.types.is_date32(arrow_type) else pa.int64()


# -- example values -------------------------------------------------------------------

_EXAMPLE_CHARS = 60


def to_example(value: Any) -> JsonScalar:
    """A value as it is shown in an anomaly: JSON-able, and short.

    Long strings are cut (an anomaly must never carry a whole document),
    instants become ISO text, NaN and infinities become their names.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        value = repr(value)
    text = str(value)
    if len(text) <= _EXAMPLE_CHARS:
        return text
    # Cut in the middle: long values often differ only at the end (ids, paths).
    head = (_EXAMPLE_CHARS - 3) * 2 // 3
    return text[:head] + "..." + text[head + 3 - _EXAMPLE_CHARS :]


def show(value: JsonScalar) -> str:
    """An example as it is quoted in a message: strings in quotes, others bare."""
    if isinstance(value, str):
        return repr(value)
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    return str(value)
