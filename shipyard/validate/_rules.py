"""Checking data against a schema, one Arrow batch at a time.

Every check is a pyarrow.compute kernel over a whole column (a boolean mask,
its sum, the index of its first true); Python touches only the handful of
example values that end up in a report. State per column and rule is a few
counters, so a dataset of any size is checked in the memory of one batch, and
streaming over batches gives the same anomalies as one batch of all the rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from ._anomalies import MAX_EXAMPLES, Anomalies, Anomaly, sort_key
from ._column_types import (
    JsonScalar,
    portable_type,
    same_other_type,
    show,
    storage_bounds,
    storage_type,
    to_example,
)
from ._schema_model import ColumnSchema, Rule, Schema

__all__ = ["Validator", "types_compatible"]

Column: TypeAlias = "pa.Array | pa.ChunkedArray"

# Distinct examples are looked for in this many offending values first; only
# when they hold fewer than needed is the whole set hashed.
_EXAMPLE_PREFIX = 4096


@dataclass
class Tally:
    """What one rule found in one column so far."""

    count: int = 0
    examples: list[JsonScalar] = field(default_factory=list)
    location: str | None = None
    below: int = 0
    above: int = 0
    # The values behind the examples: two long strings may look alike once cut.
    # Keyed with their types, since True == 1 in Python and not in a column.
    _seen: set[tuple[type, Any]] = field(default_factory=set, repr=False)

    def add_examples(self, values: Iterable[Any]) -> None:
        """Keep the first distinct values, up to :data:`MAX_EXAMPLES`."""
        for value in values:
            if len(self.examples) >= MAX_EXAMPLES:
                return
            key = (type(value), value)
            if key not in self._seen:
                self._seen.add(key)
                self.examples.append(to_example(value))

    def place(self, location: str | None) -> None:
        """Remember ``location`` if it is the first."""
        if self.location is None:
            self.location = location


@dataclass
class _NullCount:
    rows: int = 0
    nulls: int = 0
    location: str | None = None


@dataclass
class _Plan:
    """What a batch's Arrow schema means against the schema (computed once per Arrow schema)."""

    findings: list[tuple[str, Rule, str]]  # column, rule, Arrow type seen ("" if absent)
    present: list[tuple[ColumnSchema, int, bool]]  # column, field index, values comparable


def types_compatible(column: ColumnSchema, arrow_type: pa.DataType | str) -> bool:
    """Whether ``arrow_type`` (or its string form) is an acceptable type for ``column``.

    Widths do not matter (``int32`` for ``int64``, ``large_string`` for
    ``string``, any timestamp unit); a change of kind does (``double`` for
    ``int``). An all-null column (type ``null``) fits any column: a reader that
    saw only nulls could not know the type.
    """
    text = str(arrow_type)
    if text == "null":
        return True
    if column.type == "other":
        if column.arrow_type in (None, "null"):
            return True
        return same_other_type(column.arrow_type, text)
    return portable_type(text) == column.type


class Validator:
    """Checks batches against a schema and accumulates the anomalies.

    Parameters
    ----------
    schema
        The schema to check against.

    Examples
    --------
    >>> validator = Validator(schema)
    >>> for i, batch in enumerate(batches):
    ...     validator.update(batch, where=f"shard {i}")
    >>> validator.anomalies().raise_for_errors()
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.rows = 0
        self._tallies: dict[tuple[str, Rule], Tally] = {}
        self._nulls: dict[str, _NullCount] = {c.name: _NullCount() for c in schema.columns}
        self._plans: dict[pa.Schema, _Plan] = {}
        self._value_sets: dict[tuple[str, str], pa.Array] = {}
        self._offsets: dict[str, int] = {}

    # -- schema-level rules ---------------------------------------------------------

    def check_schema(self, arrow_schema: pa.Schema, *, where: str = "") -> None:
        """Check column names and types only: missing, extra and retyped columns.

        :meth:`update` does this for every batch; call it directly to check a
        dataset's schema before reading any rows (counts stay 0 then).

        Parameters
        ----------
        arrow_schema
            The schema of the data.
        where
            Where this schema was seen, for the report (e.g. a file name).
        """
        self._apply_plan(self._plan(arrow_schema), rows=0, location=where or None)

    def _plan(self, arrow_schema: pa.Schema) -> _Plan:
        plan = self._plans.get(arrow_schema)
        if plan is not None:
            return plan
        names = arrow_schema.names
        findings: list[tuple[str, Rule, str]] = []
        present: list[tuple[ColumnSchema, int, bool]] = []
        for column in self.schema.columns:
            if column.name not in names:
                findings.append((column.name, "missing_column", ""))
                continue
            index = names.index(column.name)
            arrow_type = arrow_schema.field(index).type
            comparable = types_compatible(column, arrow_type)
            if not comparable:
                findings.append((column.name, "type_mismatch", str(arrow_type)))
            present.append((column, index, comparable and not pa.types.is_null(arrow_type)))
        if self.schema.extra_columns != "ignore":
            known = set(self.schema.names)
            findings += [
                (f.name, "extra_column", str(f.type)) for f in arrow_schema if f.name not in known
            ]
        plan = _Plan(findings, present)
        self._plans[arrow_schema] = plan
        return plan

    def _apply_plan(self, plan: _Plan, *, rows: int, location: str | None) -> None:
        for name, rule, arrow_type in plan.findings:
            tally = self._tally(name, rule)
            tally.count += rows
            tally.place(location)
            if arrow_type:
                tally.add_examples([arrow_type])

    # -- value rules ------------------------------------------------------------------

    def update(self, batch: pa.RecordBatch | pa.Table, *, where: str = "") -> Validator:
        """Check one batch of rows and add what it breaks to the totals.

        Parameters
        ----------
        batch
            The rows; its Arrow schema is checked too.
        where
            Where the batch comes from (``"shard 3"``), for locations such as
            ``shard 3, row 17``. Rows are counted from the first batch given
            the same ``where``, so a shard read in several batches is numbered
            as one; without ``where``, from the first batch of all.

        Returns
        -------
        Validator
            Itself, to chain calls.
        """
        # Rows count on across the batches of one ``where`` (a shard read in
        # several batches), so a location is a row of what ``where`` names.
        offset = self._offsets.get(where, 0)
        self._offsets[where] = offset + batch.num_rows

        def locate(row: int) -> str:
            return f"{where}, row {offset + row}" if where else f"row {offset + row}"

        plan = self._plan(batch.schema)
        first = f"{where}, row {offset}" if where and offset else where or f"row {offset}"
        self._apply_plan(plan, rows=batch.num_rows, location=first)
        for column, index, comparable in plan.present:
            values = batch.column(index)
            self._check_nulls(column, values, locate)
            if not comparable or batch.num_rows == 0:
                continue
            values = _plain(values)
            if column.domain is not None:
                self._check_domain(column, values, locate)
            if column.range is not None:
                self._check_range(column, values, locate)
        self.rows += batch.num_rows
        return self

    def _check_nulls(self, column: ColumnSchema, values: Column, locate: Any) -> None:
        state = self._nulls[column.name]
        state.rows += len(values)
        # NaN is a null in a float column, as in statistics and in pandas, where
        # a missing number usually arrives as NaN rather than as a null.
        floating = pa.types.is_floating(values.type)
        nulls = values.null_count + (_true_count(pc.is_nan(values)) if floating else 0)
        if nulls:
            state.nulls += nulls
            if state.location is None:
                mask = pc.is_null(values, nan_is_null=floating)
                state.location = locate(pc.index(mask, True).as_py())

    def _check_domain(self, column: ColumnSchema, values: Column, locate: Any) -> None:
        allowed = self._value_set(column, values.type)
        inside = pc.is_in(values, value_set=allowed)
        # is_in answers false for a null; nulls are the business of unexpected_nulls.
        outside = pc.and_(pc.invert(inside), pc.is_valid(values))
        self._record(column.name, "out_of_domain", outside, values, locate)

    def _check_range(self, column: ColumnSchema, values: Column, locate: Any) -> None:
        bounds = column.range
        assert bounds is not None  # noqa: S101 - the caller checked
        compared: Column = values
        low: Any = bounds.min
        high: Any = bounds.max
        if column.type in ("timestamp", "date"):
            low, high = storage_bounds(
                values.type, _text(bounds.min), _text(bounds.max), column.type
            )
            compared = values.cast(storage_type(values.type))
        below = pc.fill_null(pc.less(compared, low), False) if low is not None else None
        above = pc.fill_null(pc.greater(compared, high), False) if high is not None else None
        outside = below if above is None else above if below is None else pc.or_(below, above)
        tally = self._record(column.name, "out_of_range", outside, values, locate)
        if tally is not None:
            tally.below += _true_count(below)
            tally.above += _true_count(above)

    def _record(
        self, name: str, rule: Rule, mask: Column, values: Column, locate: Any
    ) -> Tally | None:
        count = _true_count(mask)
        if not count:
            return None
        tally = self._tally(name, rule)
        tally.count += count
        if tally.location is None:
            tally.place(locate(pc.index(mask, True).as_py()))
        if len(tally.examples) < MAX_EXAMPLES:
            offending = values.filter(mask)
            distinct = pc.unique(offending.slice(0, _EXAMPLE_PREFIX))
            if len(distinct) < MAX_EXAMPLES and len(offending) > _EXAMPLE_PREFIX:
                distinct = pc.unique(offending)
            tally.add_examples(distinct.slice(0, MAX_EXAMPLES).to_pylist())
        return tally

    def _value_set(self, column: ColumnSchema, arrow_type: pa.DataType) -> pa.Array:
        key = (column.name, str(arrow_type))
        cached = self._value_sets.get(key)
        if cached is not None:
            return cached
        domain = list(column.domain or [])
        if column.type == "int":
            # A domain value the column's type cannot hold (300 for int8) can
            # never match; dropping it keeps the cast below safe.
            domain = [v for v in domain if _fits(v, arrow_type)]
        value_set = pa.array(domain, type=arrow_type) if domain else pa.array([], arrow_type)
        self._value_sets[key] = value_set
        return value_set

    def _tally(self, name: str, rule: Rule) -> Tally:
        return self._tallies.setdefault((name, rule), Tally())

    # -- the report ---------------------------------------------------------------------

    def anomalies(self) -> Anomalies:
        """The anomalies found so far, errors first; the validator can go on after.

        Null fractions are judged over all rows seen, not batch by batch.
        """
        items: list[Anomaly] = []
        columns = {c.name: c for c in self.schema.columns}
        for (name, rule), tally in self._tallies.items():
            column = columns.get(name)
            if rule == "extra_column" or column is None:
                severity = self.schema.severity_of(None, "extra_column")
                message = extra_message(tally.examples)
            else:
                severity = self.schema.severity_of(column, rule)
                message = value_message(column, rule, tally)
            if severity is None:
                continue
            items.append(
                Anomaly(
                    column=name,
                    rule=rule,
                    severity=severity,
                    count=tally.count,
                    examples=list(tally.examples),
                    location=tally.location,
                    message=message,
                )
            )
        for column in self.schema.columns:
            state = self._nulls[column.name]
            found = null_anomaly(self.schema, column, state.nulls, state.rows, state.location)
            if found is not None:
                items.append(found)
        order = {name: i for i, name in enumerate(self.schema.names)}
        items.sort(key=lambda a: sort_key(a, order))
        return Anomalies(items, rows=self.rows)


# -- messages, shared with the check from statistics ---------------------------------


def extra_message(types: list[JsonScalar]) -> str:
    """The message of an ``extra_column`` anomaly."""
    seen = f" (seen as {', '.join(str(t) for t in types)})" if types else ""
    return f"column is not in the schema{seen}"


def value_message(column: ColumnSchema, rule: Rule, tally: Tally) -> str:
    """The message of an anomaly of ``column`` other than an extra column or nulls."""
    if rule == "missing_column":
        return f"{'required' if column.required else 'optional'} column is missing"
    if rule == "type_mismatch":
        exact = f" ({column.arrow_type})" if column.arrow_type else ""
        got = ", ".join(str(t) for t in tally.examples)
        return f"expected type {column.type}{exact}; got {got}"
    if rule == "out_of_domain":
        domain = column.domain or []
        listed = ", ".join(show(v) for v in domain[:MAX_EXAMPLES])
        more = f", ... ({len(domain)} in all)" if len(domain) > MAX_EXAMPLES else ""
        return f"values outside the domain [{listed}{more}]"
    bounds = column.range
    parts = []
    if bounds is not None and bounds.min is not None:
        parts.append(f"min {show(bounds.min)}")
    if bounds is not None and bounds.max is not None:
        parts.append(f"max {show(bounds.max)}")
    found = []
    if tally.below:
        found.append(f"{tally.below:,} below min")
    if tally.above:
        found.append(f"{tally.above:,} above max")
    detail = f": {', '.join(found)}" if found else ""
    return f"values outside the range ({', '.join(parts)}){detail}"


def null_anomaly(
    schema: Schema, column: ColumnSchema, nulls: int, rows: int, location: str | None
) -> Anomaly | None:
    """The ``unexpected_nulls`` anomaly of ``column``, if ``nulls`` of ``rows`` break it."""
    if not nulls:
        return None
    if not column.nullable:
        what = "nulls or NaN" if column.type == "float" else "nulls"
        message = f"{nulls:,} {what} in a column that is not nullable"
    elif column.max_null_fraction is not None and rows and nulls / rows > column.max_null_fraction:
        message = (
            f"{nulls / rows:.2%} of rows are null ({nulls:,} of {rows:,}); max_null_fraction is"
            f" {column.max_null_fraction}"
        )
    else:
        return None
    severity = schema.severity_of(column, "unexpected_nulls")
    if severity is None:  # pragma: no cover - value rules are never ignored
        return None
    return Anomaly(
        column=column.name,
        rule="unexpected_nulls",
        severity=severity,
        count=nulls,
        location=location,
        message=message,
    )


# -- helpers ----------------------------------------------------------------------------


def _plain(values: Column) -> Column:
    """Values in a type the comparison kernels take: dictionaries decoded, views widened."""
    arrow_type = values.type
    if pa.types.is_dictionary(arrow_type):
        return _plain(values.cast(arrow_type.value_type))
    if pa.types.is_string_view(arrow_type):
        return values.cast(pa.large_string())
    if pa.types.is_binary_view(arrow_type):
        return values.cast(pa.large_binary())
    return values


def _text(bound: float | str | None) -> str | None:
    # The schema's validator made timestamp and date bounds ISO text.
    return None if bound is None else str(bound)


def _true_count(mask: Column | None) -> int:
    if mask is None:
        return 0
    total = pc.sum(mask).as_py()
    return int(total or 0)


def _fits(value: bool | int | str, arrow_type: pa.DataType) -> bool:
    if not isinstance(value, int) or not pa.types.is_integer(arrow_type):
        return True
    bits = arrow_type.bit_width
    if pa.types.is_signed_integer(arrow_type):
        return bool(-(2 ** (bits - 1)) <= value < 2 ** (bits - 1))
    return bool(0 <= value < 2**bits)
