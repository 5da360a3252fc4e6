"""Schemas from statistics, and the cheap check of statistics against a schema.

Both read :class:`shipyard.validate.stats.DatasetStatistics` through the small
protocols below, so this module depends on what statistics offer, not on how
they are computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ._anomalies import MAX_EXAMPLES, Anomalies, Anomaly, sort_key
from ._column_types import (
    ColumnType,
    JsonScalar,
    epoch_seconds,
    format_instant,
    portable_type,
    show,
    to_example,
)
from ._rules import Tally, extra_message, null_anomaly, types_compatible, value_message
from ._schema_model import ColumnSchema, Range, Rule, Schema

__all__ = ["infer_schema", "validate_stats"]

# Integers above this are not exact as floats (statistics keep min/max as floats).
_EXACT_FLOAT_INT = 2**53
# Statistics keep instants as float seconds: exact to about 0.25 µs today.
_INSTANT_SLACK_S = 1e-6
_FLOAT_NOISE_US = 0.25
# A day, an hour, a minute, a second, a millisecond, in microseconds.
_INSTANT_UNITS_US = (86_400 * 10**6, 3_600 * 10**6, 60 * 10**6, 10**6, 10**3)


class ColumnStatisticsLike(Protocol):
    """What is read of :class:`~shipyard.validate.stats.ColumnStatistics`."""

    name: str
    arrow_type: str
    count: int  # rows of the batches that had the column, nulls included
    nulls: int  # NaN included
    min: Any
    max: Any
    distinct: float

    def top(self, k: int = 10) -> Sequence[tuple[Any, int]]: ...


class DatasetStatisticsLike(Protocol):
    """What is read of :class:`~shipyard.validate.stats.DatasetStatistics`."""

    num_rows: int

    @property
    def columns(self) -> Mapping[str, ColumnStatisticsLike]: ...


# -- inference --------------------------------------------------------------------------


def infer_schema(
    stats: DatasetStatisticsLike, *, max_domain: int = 50, range_margin: float = 0.0
) -> Schema:
    """Infer a schema from statistics: types, nullability, domains and ranges.

    Parameters
    ----------
    stats
        Statistics of the data the schema should describe.
    max_domain
        A string or bool column with at most this many distinct values gets a
        ``domain`` listing them (sorted); 0 infers no domains.
    range_margin
        Widen each numeric and datetime range by this fraction of its span
        (max - min) on each side, so that new data a little beyond the sample's
        extremes still passes; 0 keeps the observed min and max. A widened
        bound is rounded outward at the margin's decimal place (instants: to
        the largest of day, hour, minute, second, millisecond within it), and a
        column without negative values keeps a min of at least 0.

    Returns
    -------
    Schema
        Every column required, nullable only if nulls (or NaN) were seen,
        extra columns a warning. A numeric column that held infinities gets no
        range (statistics do not say on which side they lie).

    Raises
    ------
    ValueError
        When ``max_domain`` or ``range_margin`` is negative.
    """
    if max_domain < 0:
        raise ValueError(f"max_domain must be >= 0; got {max_domain}")
    if not range_margin >= 0:  # also refuses NaN
        raise ValueError(f"range_margin must be a number >= 0; got {range_margin}")
    columns = [_infer_column(column, max_domain, range_margin) for column in stats.columns.values()]
    return Schema(columns=columns)


def _infer_column(stats: ColumnStatisticsLike, max_domain: int, margin: float) -> ColumnSchema:
    kind = portable_type(stats.arrow_type)
    domain = _infer_domain(stats, kind, max_domain) if kind in ("string", "bool") else None
    bounds = None
    if kind in ("float", "int") and not _infinite(stats):
        # Statistics leave infinities out of min and max and do not say on
        # which side they lie: any range would flag the sample's own rows.
        bounds = _infer_numeric_range(stats.min, stats.max, kind, margin)
    elif kind in ("timestamp", "date"):
        bounds = _infer_instant_range(stats, kind, margin)
    return ColumnSchema(
        name=stats.name,
        type=kind,
        arrow_type=stats.arrow_type,
        nullable=stats.nulls > 0,
        domain=domain,
        range=bounds,
    )


def _infer_domain(
    stats: ColumnStatisticsLike, kind: ColumnType, max_domain: int
) -> list[bool | int | str] | None:
    if max_domain == 0 or round(stats.distinct) > max_domain:
        return None
    top = [(value, count) for value, count in stats.top(max_domain + 1) if value is not None]
    # A domain must list every value seen, or valid rows would be flagged: the
    # frequency sketch must have returned them all, with counts adding up.
    if not top or len(top) > max_domain or sum(c for _, c in top) < _non_null(stats):
        return None
    values = {_categorical(value, kind) for value, _ in top}
    return sorted(values, key=lambda v: (str(type(v)), v))


def _infer_numeric_range(low: Any, high: Any, kind: ColumnType, margin: float) -> Range | None:
    if not _finite(low) or not _finite(high):
        return None
    low, high = float(low), float(high)
    widen = (high - low) * margin
    # A margin never takes non-negative data (counts, prices, distances) below 0.
    floor_at_zero = low >= 0
    low, high = low - widen, high + widen
    if widen > 0:
        # Once widened, the last digits mean nothing: round outward to the
        # margin's own decimal place, so that people read 3150, not 3146.37...
        places = -math.floor(math.log10(widen))
        step = 10.0**-places
        low = round(math.floor(low / step) * step, places)
        high = round(math.ceil(high / step) * step, places)
    if floor_at_zero:
        low = max(low, 0.0)
    if kind == "float":
        return Range(min=low, max=high)
    # Past 2**53 a float is not the integer it came from: widen by one step.
    if abs(low) >= _EXACT_FLOAT_INT:
        low = math.nextafter(low, -math.inf)
    if abs(high) >= _EXACT_FLOAT_INT:
        high = math.nextafter(high, math.inf)
    return Range(min=math.floor(low), max=math.ceil(high))


def _infer_instant_range(
    stats: ColumnStatisticsLike, kind: ColumnType, margin: float
) -> Range | None:
    if not _finite(stats.min) or not _finite(stats.max):
        return None
    low, high = float(stats.min), float(stats.max)
    span = (high - low) * margin
    # Statistics hold instants as float seconds, a fraction of a microsecond
    # off: snap to the microsecond the data was written in (so the file reads
    # 12:00:00, not 11:59:59.999999), widened outward when the margin leaves a
    # fraction. Nanosecond data may sit between microseconds: one more on each
    # side keeps the sample's own extremes inside.
    slack = 1 if "[ns" in stats.arrow_type else 0
    low_us, high_us = (
        _micros((low - span) * 1e6, math.floor),
        _micros((high + span) * 1e6, math.ceil),
    )
    low_us, high_us = low_us - slack, high_us + slack
    # With a margin, round outward to the largest calendar unit it spans, so
    # that the file reads 2024-03-01T00:00:00 rather than ...T21:01:37.680000.
    unit = next((u for u in _INSTANT_UNITS_US if u <= span * 1e6), 0)
    if unit:
        low_us, high_us = low_us // unit * unit, -(-high_us // unit) * unit
    low, high = low_us / 1e6, high_us / 1e6
    return Range(
        min=format_instant(low, kind, stats.arrow_type),
        max=format_instant(high, kind, stats.arrow_type),
    )


# -- the check from statistics --------------------------------------------------------------


def validate_stats(
    schema: Schema, stats: DatasetStatisticsLike, *, where: str = "statistics"
) -> Anomalies:
    """Check statistics already computed against a schema, without reading the data.

    The same rules as :class:`~shipyard.validate.schema.Validator`, as far as
    a summary can tell: columns and types exactly, nulls exactly, ranges from
    min and max (so the count of out-of-range rows is unknown: None), domains
    from the most frequent values (counts exact when the frequency sketch kept
    every value, None otherwise).

    Parameters
    ----------
    schema
        The schema.
    stats
        Statistics of the data to check.
    where
        The location anomalies report.

    Returns
    -------
    Anomalies
        Errors first.
    """
    items: list[Anomaly] = []

    def add(column: str, rule: Rule, column_schema: ColumnSchema | None, **fields: Any) -> None:
        severity = schema.severity_of(column_schema, rule)
        if severity is not None:
            items.append(
                Anomaly(column=column, rule=rule, severity=severity, location=where, **fields)
            )

    present = stats.columns
    for column in schema.columns:
        found = present.get(column.name)
        if found is None:
            tally = Tally(count=stats.num_rows)
            message = value_message(column, "missing_column", tally)
            add(column.name, "missing_column", column, count=stats.num_rows, message=message)
            continue
        rows = found.count
        if not types_compatible(column, found.arrow_type):
            tally = Tally(examples=[found.arrow_type])
            message = value_message(column, "type_mismatch", tally)
            add(
                column.name,
                "type_mismatch",
                column,
                count=rows,
                examples=[found.arrow_type],
                message=message,
            )
        else:
            if column.domain is not None:
                _domain_from_stats(column, found, add)
            if column.range is not None:
                _range_from_stats(column, found, add)
        nulls = null_anomaly(schema, column, found.nulls, rows, where)
        if nulls is not None:
            items.append(nulls)
    known = set(schema.names)
    for name, found in present.items():
        if name not in known:
            add(
                name,
                "extra_column",
                None,
                count=found.count,
                examples=[found.arrow_type],
                message=extra_message([found.arrow_type]),
            )
    order = {name: i for i, name in enumerate(schema.names)}
    items.sort(key=lambda a: sort_key(a, order))
    return Anomalies(items, rows=stats.num_rows)


def _domain_from_stats(column: ColumnSchema, stats: ColumnStatisticsLike, add: Any) -> None:
    domain = column.domain or []
    allowed = {(type(v), v) for v in domain}
    # Enough values to see the whole domain and a few strangers besides.
    top = [(v, c) for v, c in stats.top(len(domain) + 64) if v is not None]
    outside = [(v, c) for v, c in top if _key(v, column.type) not in allowed]
    if not outside:
        return
    complete = sum(c for _, c in top) >= _non_null(stats)
    tally = Tally()
    tally.add_examples(_categorical(v, column.type) for v, _ in outside)
    count = sum(c for _, c in outside) if complete else None
    add(
        column.name,
        "out_of_domain",
        column,
        count=count,
        examples=tally.examples,
        message=value_message(column, "out_of_domain", tally),
    )


def _range_from_stats(column: ColumnSchema, stats: ColumnStatisticsLike, add: Any) -> None:
    bounds = column.range
    if bounds is None:
        return
    instants = column.type in ("timestamp", "date")

    def limit(bound: float | str | None, sign: int) -> float | None:
        if bound is None:
            return None
        if instants:
            # Within a microsecond of the bound is inside: statistics hold
            # instants as float seconds, which are not exact to the nanosecond.
            return epoch_seconds(str(bound), column.type) + sign * _INSTANT_SLACK_S
        return float(bound)

    lower, upper = limit(bounds.min, -1), limit(bounds.max, +1)
    found: list[str] = []
    examples: list[JsonScalar] = []
    for value, bound, limit_value, side in (
        (stats.min, bounds.min, lower, "smallest"),
        (stats.max, bounds.max, upper, "largest"),
    ):
        if limit_value is None or not _finite(value):
            continue
        if (value < limit_value) if side == "smallest" else (value > limit_value):
            if instants:
                example = to_example(format_instant(value, column.type, stats.arrow_type))
            else:
                example = int(value) if column.type == "int" else float(value)
            examples.append(example)
            relation = "below min" if side == "smallest" else "above max"
            found.append(f"the {side} value {show(example)} is {relation} {show(bound)}")
    infinite = _infinite(stats)
    if infinite and lower is not None and upper is not None:
        # Statistics count infinities without their sign; a range with both
        # bounds excludes either one.
        found.append(f"{infinite:,} infinite value{'s' if infinite != 1 else ''}")
    if found:
        add(
            column.name,
            "out_of_range",
            column,
            count=None,
            examples=examples[:MAX_EXAMPLES],
            message="; ".join(found),
        )


# -- helpers -------------------------------------------------------------------------------


def _non_null(stats: ColumnStatisticsLike) -> int:
    return int(stats.count - stats.nulls)


def _micros(value: float, outward: Any) -> int:
    nearest = round(value)
    return nearest if abs(value - nearest) < _FLOAT_NOISE_US else int(outward(value))


def _infinite(stats: ColumnStatisticsLike) -> int:
    # Not part of the protocol: statistics without the count have none to give.
    return int(getattr(stats, "infinite", 0) or 0)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _categorical(value: Any, kind: ColumnType) -> bool | int | str:
    """A value from a frequency sketch as the schema holds it."""
    if kind == "bool":
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)
    if kind == "int":
        return int(value)
    return str(value)


def _key(value: Any, kind: ColumnType) -> tuple[type, bool | int | str]:
    converted = _categorical(value, kind)
    return type(converted), converted
