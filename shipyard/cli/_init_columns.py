"""What ``shipyard init DATA_FILE`` decides per column: the target's task, each feature's transforms.

Facts about a column (its type family, missing values, distinct values) come
from a sample in Arrow; each decision keeps a short reason, which becomes a
comment of the YAML. The rules:

- the task: :func:`shipyard.train.steps.infer_task`'s, on the file's values;
  labels that are not the codes 0..k-1 the trainers need are coded by a SQL
  ``CASE`` (``data.target_expr``);
- numbers: ``impute`` (median); dates and times: ``parts``, those that vary;
- strings: one-hot up to 20 values, a code per value (one column) up to 1000,
  hashed above; dropped when nearly every row has its own (text, identifiers);
- dropped: constant and empty columns, row numbers, and identifiers (named like
  ``id``/``*_id``, unique per row), the first of which becomes ``data.key``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError

__all__ = [
    "ColumnFacts",
    "Dropped",
    "Feature",
    "Target",
    "column_facts",
    "choose_feature",
    "count_text",
    "id_like",
    "Columns",
    "choose_columns",
    "infer_target",
    "label_counts",
    "rare_columns",
    "values_text",
]

MAX_CLASSES = 50
"""At most this many labels is a class label (the rule of ``infer_task``, with 2 for binary)."""
RARE = 10
"""A value or a null seen fewer times may land in eval only; the schema inferred from train
would then reject it (out_of_domain, unexpected_nulls)."""
_MAX_BINARY = 2
_MAX_ONEHOT, _MAX_VOCABULARY, _HASH_BUCKETS, _MIN_FREQUENCY = 20, 1000, 1024, 5
_UNIQUE_SHARE = 0.9
_MIN_ROWS_FOR_UNIQUE = 50  # below, "every value distinct" says little
_DOMAIN_MAX = 50  # the inferred schema lists the values of string and bool columns up to this
_ID_NAME = re.compile(r"(?i)^(id|uuid|guid|key|index|idx|row_?id|row_?num(ber)?|unnamed: ?0)$")
_ID_SUFFIX = re.compile(r"(?i)[_\-. ](id|uuid|guid|key)$|[a-z0-9]I[Dd]$")
_POSITIVE = ("1", "true", "t", "yes", "y", "positive", "pos")
_DATE_PARTS = ("year", "month", "day", "weekday")
_TIME_PARTS = ("hour",)


@dataclass(frozen=True)
class Feature:
    """A feature as ``features.columns[]`` writes it, with the reason for its transforms."""

    name: str
    kind: str
    transforms: list[dict[str, Any]]
    why: str


@dataclass(frozen=True)
class Dropped:
    """A column left out of the features, and why."""

    name: str
    why: str


# -- column facts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnFacts:
    """What the sample says about one column."""

    name: str
    type: pa.DataType
    family: str | None  # number, integer, bool, string, datetime, date; None: no kind fits
    rows: int
    missing: int
    distinct: int
    counts: dict[Any, int]  # value -> rows, only when distinct <= _DOMAIN_MAX

    @property
    def present(self) -> int:
        return self.rows - self.missing


def _family(type_: pa.DataType) -> str | None:
    t = pa.types
    base = type_.value_type if t.is_dictionary(type_) else type_
    if t.is_boolean(base):
        return "bool"
    if t.is_integer(base):
        return "integer"
    if t.is_floating(base) or t.is_decimal(base):
        return "number"
    if t.is_string(base) or t.is_large_string(base) or t.is_string_view(base):
        return "string"
    if t.is_timestamp(base):
        return "datetime"
    if t.is_date(base):
        return "date"
    return None


def column_facts(column: pa.ChunkedArray, name: str) -> ColumnFacts:
    """The facts of ``column``: NaN counts as missing; values are counted when few."""
    type_ = column.type
    family = _family(type_)
    if pa.types.is_dictionary(type_):
        column = column.cast(type_.value_type)
    missing = column.null_count
    if family == "number" and not pa.types.is_decimal(column.type):
        missing += int(pc.sum(pc.is_nan(column)).as_py() or 0)
    if family is None:
        return ColumnFacts(name, type_, None, len(column), missing, 0, {})
    distinct = int(pc.count_distinct(column, mode="only_valid").as_py())
    counts: dict[Any, int] = {}
    if distinct <= _DOMAIN_MAX:
        for item in pc.value_counts(column.drop_null()).to_pylist():
            value = item["values"]
            if not (isinstance(value, float) and math.isnan(value)):
                counts[value] = int(item["counts"])
    return ColumnFacts(name, type_, family, len(column), missing, distinct, counts)


def count_text(n: int, what: str) -> str:
    """``"1 row"``, ``"1,234 rows"``."""
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def show(value: Any) -> str:
    """A value for a comment, cut to 24 characters."""
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def values_text(values: Sequence[Any], limit: int = 6) -> str:
    """The first ``limit`` values, joined, then ``...`` when there are more."""
    shown = ", ".join(show(v) for v in list(values)[:limit])
    return shown + (", ..." if len(values) > limit else "")


# -- the target and the task ----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str  # data.target: the column, or the derived column's name
    expr: str | None
    task: str
    note: str


def label_counts(
    con: Any, relation: str, facts: ColumnFacts, sampled: bool
) -> tuple[dict[Any, int], int]:
    """The target's values with their rows, and its number of distinct values.

    Counted over the whole file when the sample suggests a label (few values); a
    sample may miss a rare class.
    """
    from ..data.splits import quote_ident

    if not sampled or facts.distinct > MAX_CLASSES:
        return dict(facts.counts), facts.distinct
    q = quote_ident(facts.name)
    found = con.sql(
        f"SELECT {q}, count(*) FROM {relation} WHERE {q} IS NOT NULL GROUP BY 1"  # noqa: S608 - a quoted name
        f" ORDER BY 2 DESC LIMIT {MAX_CLASSES + 1}"
    ).fetchall()
    labels = {value: int(n) for value, n in found}
    return (labels, len(labels)) if len(labels) <= MAX_CLASSES else ({}, len(labels))


def _auto_task(family: str | None, values: Sequence[Any], distinct: int) -> str:
    """``infer_task``'s rule, on the file's values instead of the train split's."""
    if family == "bool":
        return "binary"
    if family == "number" and not all(float(v).is_integer() for v in values[:1000]):
        return "regression"
    if distinct <= _MAX_BINARY:
        return "binary"
    if distinct <= MAX_CLASSES:
        return "multiclass"
    return "regression"


def infer_target(
    facts: ColumnFacts, labels: dict[Any, int], distinct: int, task: str, taken: Sequence[str]
) -> Target:
    """The task of ``--target`` and, for labels that are not 0..k-1, the SQL coding them.

    ``labels`` maps each value to its rows (empty when there are more than
    :data:`MAX_CLASSES`); ``taken`` are the column names a derived target must avoid.

    Raises
    ------
    ConfigError
        When the column cannot be a target, or does not fit ``task``.
    """
    from ..data.sources import sql_literal
    from ..data.splits import quote_ident

    column = facts.name
    if facts.family is None:
        raise ConfigError(f"--target {column!r} is {facts.type}, which is no label or number")
    if distinct < 2:
        only = f" ({show(next(iter(labels)))})" if labels else ""
        raise ConfigError(
            f"--target {column!r} has {distinct} distinct value{only}: nothing to learn"
        )
    values = sorted(labels, key=lambda v: (str(type(v)), v)) if labels else []
    numeric = facts.family in ("integer", "number")
    if task == "auto":
        if facts.family in ("string", "datetime", "date") and distinct > MAX_CLASSES:
            raise ConfigError(
                f"--target {column!r} holds {facts.type} with {distinct:,} distinct values:"
                " too many classes for a label, and not a number; pass --task multiclass if it is"
                " one, or choose another column"
            )
        chosen = (
            _auto_task(facts.family, values, distinct)
            if numeric or facts.family == "bool"
            else ("binary" if distinct <= _MAX_BINARY else "multiclass")
        )
        why = "inferred"
    else:
        chosen, why = task, "from --task"
    if chosen == "regression":
        if not numeric:
            raise ConfigError(
                f"--task regression needs a numeric target; {column!r} is {facts.type}"
            )
        return Target(
            column, None, "regression", f"regression ({why}): {distinct:,} distinct numbers"
        )
    if chosen == "binary" and distinct != 2:
        raise ConfigError(
            f"--task binary needs a target with 2 values; {column!r} has {distinct:,}"
        )
    if not labels:
        raise ConfigError(
            f"--task {chosen} needs a label with at most {MAX_CLASSES} values; {column!r} has"
            f" {distinct:,}"
        )
    counts = ", ".join(f"{show(v)}: {labels[v]:,}" for v in values[:10])
    if facts.family == "bool":
        return Target(column, None, chosen, f"{chosen} ({why}): true/false, rows: {counts}")
    if numeric and [float(v) for v in values] == [float(i) for i in range(len(values))]:
        return Target(
            column,
            None,
            chosen,
            f"{chosen} ({why}): {len(values)} classes, rows per class {counts}",
        )
    # Labels must be 0..k-1 for the trainers: derive codes with a SQL CASE.
    if chosen == "binary":
        positive = _positive(values, labels)
        values = [v for v in values if v != positive] + [positive]
    derived = f"{column}_code"
    while derived in taken:
        derived += "_"
    cases = " ".join(f"WHEN {sql_literal(v)} THEN {i}" for i, v in enumerate(values))
    expr = f"CASE {quote_ident(column)} {cases} END"
    mapping = ", ".join(f"{show(v)} -> {i}" for i, v in enumerate(values[:10]))
    note = (
        f"{chosen} ({why}): {column!r} holds {values_text(values)}; the model learns their"
        f" codes, {derived!r} ({mapping}). Rows per value: {counts}"
    )
    return Target(derived, expr, chosen, note)


def _positive(values: Sequence[Any], labels: dict[Any, int]) -> Any:
    """The value coded 1 of a binary target.

    The larger of two numbers ({1, 2}, {-1, 1}); of two strings, one that reads as
    yes (yes, true, 1, positive), else the rarer one, the class usually looked for.
    """
    if all(isinstance(v, int | float) for v in values):
        return max(values)
    for v in values:
        if str(v).strip().lower() in _POSITIVE:
            return v
    return min(values, key=lambda v: (labels[v], str(v)))


# -- features -------------------------------------------------------------------------------


def id_like(facts: ColumnFacts) -> bool:
    """Named like an identifier (id, uuid, key, *_id, customerId), integers or strings, unique per row."""
    name = facts.name.strip()
    named = bool(_ID_NAME.match(name) or _ID_SUFFIX.search(name) or not name)
    return (
        named
        and facts.family in ("integer", "string")
        and facts.missing == 0
        and facts.distinct == facts.rows
    )


def _row_number(facts: ColumnFacts, column: pa.ChunkedArray) -> bool:
    if facts.family != "integer" or facts.missing or facts.distinct != facts.rows:
        return False
    if facts.rows < _MIN_ROWS_FOR_UNIQUE:
        return False
    low, high = pc.min_max(column).values()
    return int(high.as_py()) - int(low.as_py()) == facts.rows - 1


def _datetime_parts(column: pa.ChunkedArray, family: str) -> list[str]:
    """The parts of a date or timestamp that vary in the sample."""
    present = column.drop_null()
    funcs = {
        "year": pc.year, "month": pc.month, "day": pc.day, "weekday": pc.day_of_week, "hour": pc.hour,
    }  # fmt: skip
    names = _DATE_PARTS + (_TIME_PARTS if family == "datetime" else ())
    parts = []
    for part in names:
        values = funcs[part](present)
        if int(pc.count_distinct(values).as_py()) > 1:
            parts.append(part)
    return parts


def choose_feature(facts: ColumnFacts, column: pa.ChunkedArray) -> Feature | Dropped:
    """The feature a column makes, or why it is left out (see the module's rules)."""
    name, family = facts.name, facts.family
    if family is None:
        return Dropped(name, f"type {facts.type}: no feature kind fits it")
    if facts.distinct == 0:
        return Dropped(name, "empty: no value in any row")
    if facts.distinct == 1:
        value = show(next(iter(facts.counts)))
        empty = f", else empty in {count_text(facts.missing, 'row')}" if facts.missing else ""
        return Dropped(name, f"constant: {value} in every row{empty}")
    share = facts.missing / facts.rows
    missing = f", {share:.0%} missing" if share >= 0.005 else ", <1% missing" if share else ""
    if family in ("integer", "number"):
        if _row_number(facts, column):
            return Dropped(name, "row number: a different, consecutive integer in every row")
        few = f"{facts.distinct} distinct values" if facts.distinct <= _MAX_ONEHOT else ""
        why = (few + missing).removeprefix(", ")
        return Feature(name, "numeric", [{"op": "impute", "strategy": "median"}], why)
    if family in ("datetime", "date"):
        parts = _datetime_parts(column, family)
        if not parts:
            return Dropped(name, "its year, month, day, weekday and hour never change")
        what = "a date" if family == "date" else "a timestamp"
        return Feature(
            name,
            "datetime",
            [{"op": "parts", "parts": parts}],
            f"{what}: the parts that vary{missing}",
        )
    distinct = facts.distinct
    if family == "bool":
        return Feature(
            name, "categorical", [{"op": "vocabulary"}, {"op": "onehot"}], f"true/false{missing}"
        )
    if distinct <= _MAX_ONEHOT:
        values = sorted(facts.counts, key=lambda v: -facts.counts[v])
        return Feature(
            name,
            "categorical",
            [{"op": "vocabulary"}, {"op": "onehot"}],
            f"{distinct} distinct values ({values_text(values, 4)}){missing}",
        )
    if distinct >= _UNIQUE_SHARE * facts.present and facts.present >= _MIN_ROWS_FOR_UNIQUE:
        return Dropped(
            name, f"text or identifier: {distinct:,} distinct values in {facts.present:,} rows"
        )
    if distinct <= _MAX_VOCABULARY:
        return Feature(
            name,
            "categorical",
            [{"op": "vocabulary", "min_frequency": _MIN_FREQUENCY}, {"op": "ordinal"}],
            f"{distinct} distinct values: a code each, as one column; values seen fewer than"
            f" {_MIN_FREQUENCY} times share one{missing}",
        )
    return Feature(
        name,
        "categorical",
        [{"op": "hashing", "buckets": _HASH_BUCKETS}, {"op": "ordinal"}],
        f"{distinct:,} distinct values: hashed into {_HASH_BUCKETS} buckets{missing}",
    )


def rare_columns(facts: Sequence[ColumnFacts], target: str) -> list[str]:
    """Columns with a value or a null so rare that the train split may not see it.

    Rows without a target are left out of the data, so the target's nulls do not count.
    """
    found = []
    for f in facts:
        rare_null = 0 < f.missing < RARE and f.name != target
        rare_value = (
            f.family in ("string", "bool")
            and f.distinct <= _DOMAIN_MAX
            and f.counts
            and min(f.counts.values()) < RARE
        )
        if rare_null or rare_value:
            found.append(f.name)
    return found


@dataclass
class Columns:
    """The features, the columns left out, and the key, each with its reason."""

    features: list[Feature]
    dropped: list[Dropped]
    key: str | None = None
    key_note: str = ""


def choose_columns(
    sample: pa.Table, facts: dict[str, ColumnFacts], target: Target, column: str
) -> Columns:
    """Decide every column but the target ``column``: a feature, the key, or left out."""
    chosen = Columns([], [])
    if target.expr is not None:
        chosen.dropped.append(
            Dropped(column, f"the target's source ({target.name!r} is computed from it)")
        )
    for name in sample.column_names:
        if name == column:
            continue
        if id_like(facts[name]):
            if chosen.key is None:
                chosen.key = name
                chosen.key_note = (
                    f"{name!r} is unique per row: an identifier, never a feature; the random"
                    " split hashes it, so a row stays in its split when rows are added"
                )
            else:
                chosen.dropped.append(Dropped(name, "identifier: unique per row"))
            continue
        choice = choose_feature(facts[name], sample.column(name))
        if isinstance(choice, Feature):
            chosen.features.append(choice)
        else:
            chosen.dropped.append(choice)
    return chosen
