"""The schema as typed models: what ``schema.yaml`` may say, checked on load.

Public through :mod:`shipyard.validate.schema`. Cross-field checks raise
:class:`~shipyard._config_yaml.FieldError` so that an error in a hand-edited
file points at the line of the offending key (``domain[3]``, ``range.max``)
rather than at the column as a whole.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator
from pydantic import model_validator as _model_validator

from .._config_types import Section
from .._config_yaml import FieldError
from ._column_types import ColumnType, parse_instant

__all__ = [
    "DEFAULT_SEVERITY",
    "RULES",
    "ColumnSchema",
    "ExtraColumns",
    "Range",
    "Rule",
    "Schema",
    "Severity",
    "ValueRule",
]

Rule = Literal[
    "missing_column",
    "extra_column",
    "type_mismatch",
    "unexpected_nulls",
    "out_of_domain",
    "out_of_range",
]
"""The checks a schema makes, named as they appear in anomalies."""

RULES: tuple[Rule, ...] = (
    "missing_column",
    "extra_column",
    "type_mismatch",
    "unexpected_nulls",
    "out_of_domain",
    "out_of_range",
)

ValueRule = Literal["type_mismatch", "unexpected_nulls", "out_of_domain", "out_of_range"]
"""The rules whose severity a ``severity:`` mapping sets.

``missing_column`` follows the column's ``required`` and ``extra_column`` the
schema's ``extra_columns``, so that each decision is written in one place.
"""

Severity = Literal["error", "warning"]
ExtraColumns = Literal["error", "warning", "ignore"]

DEFAULT_SEVERITY: dict[ValueRule, Severity] = {
    "type_mismatch": "error",
    "unexpected_nulls": "error",
    "out_of_domain": "error",
    # An inferred range is the min and max of one sample, which the next sample
    # nearly always crosses a little; as an error it would stop most pipelines
    # for nothing. A deliberate range can be made an error per column.
    "out_of_range": "warning",
}

Bound = StrictInt | StrictFloat | StrictStr
Categorical = StrictBool | StrictInt | StrictStr

_DOMAIN_TYPES: tuple[ColumnType, ...] = ("string", "int", "bool")
_RANGE_TYPES: tuple[ColumnType, ...] = ("float", "int", "timestamp", "date")
# YAML 1.1 (PyYAML) reads these unquoted words as booleans: country code NO,
# answers yes/no. Named in the error so the fix (quoting) is obvious.
_YAML_BOOLEAN_WORDS = "yes/no, on/off, y/n, true/false"


class Range(Section):
    """Bounds of a numeric or datetime column; either may be left out."""

    min: Bound | None = Field(
        default=None,
        description="Smallest valid value: a number, or ISO 8601 text for timestamps and dates.",
    )
    max: Bound | None = Field(
        default=None,
        description="Largest valid value: a number, or ISO 8601 text for timestamps and dates.",
    )

    @field_validator("min", "max", mode="before")
    @classmethod
    def _instants_as_text(cls, value: Any) -> Any:
        # PyYAML turns an unquoted 2024-01-01 into a date object; the schema
        # keeps ISO text, so a hand-written bound and an inferred one compare equal.
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value

    @_model_validator(mode="after")
    def _not_empty(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both; remove 'range' to accept any value")
        return self


class ColumnSchema(Section):
    """What one column must look like."""

    name: str = Field(min_length=1, description="Column name, exactly as in the data.")
    type: ColumnType = Field(
        description="Portable type: float, int, string, bool, timestamp, date, binary or other."
    )
    arrow_type: str | None = Field(
        default=None,
        description="The exact Arrow type seen when the schema was inferred; informational only,"
        " except for 'other' columns, whose Arrow type must match.",
    )
    required: bool = Field(
        default=True,
        description="A missing required column is an error; a missing optional one a warning.",
    )
    nullable: bool = Field(default=True, description="Whether the column may hold nulls.")
    max_null_fraction: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Largest fraction of null rows over all the data checked (nullable columns).",
    )
    domain: list[Categorical] | None = Field(
        default=None, description="The only values allowed (string, int and bool columns)."
    )
    range: Range | None = Field(
        default=None, description="Bounds of the values (float, int, timestamp and date columns)."
    )
    severity: dict[ValueRule, Severity] = Field(
        default_factory=dict,
        description="Per-rule severity for this column, overriding the schema's `severity`.",
    )

    @field_validator("domain", mode="before")
    @classmethod
    def _categorical_values(cls, value: Any) -> Any:
        # Checked here rather than by the union type, whose error for 1.5
        # ("expected a valid boolean") would name the wrong thing.
        if isinstance(value, list):
            for index, item in enumerate(value):
                if not isinstance(item, bool | int | str):
                    raise FieldError(
                        (index,),
                        f"expected text, a whole number or true/false; got {item!r}",
                    )
        return value

    @_model_validator(mode="after")
    def _consistent(self) -> ColumnSchema:
        if self.max_null_fraction is not None and not self.nullable:
            raise FieldError(
                ("max_null_fraction",),
                f"max_null_fraction={self.max_null_fraction} needs nullable: true"
                " (a column that is not nullable allows no nulls at all)",
            )
        if self.domain is not None:
            self._check_domain(self.domain)
        if self.range is not None:
            self._check_range(self.range)
        return self

    def _check_domain(self, domain: list[bool | int | str]) -> None:
        if self.type not in _DOMAIN_TYPES:
            raise FieldError(
                ("domain",),
                f"{_a(self.type)} column cannot have a domain (only string, int and bool columns);"
                " use range for bounds",
            )
        if not domain:
            raise FieldError(
                ("domain",),
                "an empty domain rejects every value; remove 'domain' to accept any value",
            )
        seen: set[tuple[type, bool | int | str]] = set()
        for index, value in enumerate(domain):
            expected = {"string": str, "int": int, "bool": bool}[self.type]
            if type(value) is not expected:
                raise FieldError(("domain", index), _domain_type_message(value, self.type))
            if (type(value), value) in seen:
                raise FieldError(("domain", index), f"{value!r} is listed twice")
            seen.add((type(value), value))

    def _check_range(self, bounds: Range) -> None:
        if self.type not in _RANGE_TYPES:
            raise FieldError(
                ("range",),
                f"{_a(self.type)} column cannot have a range (only float, int, timestamp and"
                " date columns); use domain to list allowed values",
            )
        keys: list[Any] = []
        for key in ("min", "max"):
            value = getattr(bounds, key)
            if value is None:
                continue
            if self.type in ("float", "int"):
                if isinstance(value, str):
                    raise FieldError(
                        ("range", key),
                        f"expected a number for {_a(self.type)} column; got {value!r}",
                    )
                keys.append(value)
                continue
            if not isinstance(value, str):
                raise FieldError(
                    ("range", key),
                    f"expected ISO 8601 text for {_a(self.type)} column"
                    f" (e.g. '2024-01-31'{'' if self.type == 'date' else ' or 2024-01-31T12:00:00'});"
                    f" got {value!r}",
                )
            try:
                keys.append(parse_instant(value, self.type))
            except ValueError:
                example = "2024-01-31" if self.type == "date" else "2024-01-31T12:00:00+00:00"
                raise FieldError(
                    ("range", key), f"{value!r} is not an ISO 8601 {self.type}; e.g. {example!r}"
                ) from None
        if len(keys) == 2 and keys[0] > keys[1]:
            raise FieldError(("range", "max"), f"max={bounds.max!r} is below min={bounds.min!r}")


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _domain_type_message(value: bool | int | str, kind: ColumnType) -> str:
    if kind == "string" and isinstance(value, bool):
        return (
            f"{str(value).lower()} is a YAML boolean, not text; quote the value as written"
            f" (unquoted {_YAML_BOOLEAN_WORDS} are read as booleans)"
        )
    if kind == "string":
        return f"{value!r} is a number, not text; quote it (a leading zero is lost otherwise)"
    if kind == "bool":
        return f"expected true or false in a bool column; got {value!r}"
    return f"expected a whole number in an int column; got {value!r}"


class Schema(Section):
    """What a dataset must look like: its columns and how strictly each rule applies.

    Write one with :func:`~shipyard.validate.schema.infer_schema`, save it with
    :meth:`to_yaml`, edit it by hand, keep it in git and read it back with
    :meth:`from_yaml`.
    """

    version: Literal[1] = Field(default=1, description="Format version of this file.")
    extra_columns: ExtraColumns = Field(
        default="warning",
        description="What a column missing from this schema is: error, warning or ignore.",
    )
    severity: dict[ValueRule, Severity] = Field(
        default_factory=lambda: dict(DEFAULT_SEVERITY),
        description="Severity of each rule; rules left out keep their default.",
    )
    columns: list[ColumnSchema] = Field(description="The columns, in the data's order.")

    @field_validator("severity", mode="after")
    @classmethod
    def _fill_defaults(cls, value: dict[ValueRule, Severity]) -> dict[ValueRule, Severity]:
        # Always complete and in one order, so that the written file lists every
        # rule (the reader sees what can be tuned) and schemas compare equal.
        return {rule: value.get(rule, default) for rule, default in DEFAULT_SEVERITY.items()}

    @_model_validator(mode="after")
    def _unique_names(self) -> Schema:
        seen: dict[str, int] = {}
        for index, column in enumerate(self.columns):
            if column.name in seen:
                raise FieldError(
                    ("columns", index, "name"),
                    f"column {column.name!r} is listed twice (also columns[{seen[column.name]}])",
                )
            seen[column.name] = index
        return self

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return [column.name for column in self.columns]

    def column(self, name: str) -> ColumnSchema:
        """Return the column called ``name``.

        Raises
        ------
        KeyError
            When the schema has no such column.
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"the schema has no column {name!r}; it has {self.names}")

    def severity_of(self, column: ColumnSchema | None, rule: Rule) -> Severity | None:
        """The severity of ``rule`` for ``column``; None when the rule is ignored.

        ``missing_column`` follows ``column.required``, ``extra_column`` the
        schema's ``extra_columns`` (``column`` is None then: the column is not
        in the schema), and the other rules the column's ``severity`` entry,
        else the schema's.

        Raises
        ------
        ValueError
            When ``column`` is None for a rule other than ``extra_column``.
        """
        if rule == "extra_column":
            return None if self.extra_columns == "ignore" else self.extra_columns
        if column is None:
            raise ValueError(f"the rule {rule!r} applies to a column of the schema; got None")
        if rule == "missing_column":
            return "error" if column.required else "warning"
        return column.severity.get(rule) or self.severity[rule]

    def to_yaml(self) -> str:
        """Return the schema as YAML for people to read and edit.

        One block per column in the schema's order, keys in a fixed order,
        comments explaining the rules; :meth:`from_yaml` reads it back equal.
        """
        from ._schema_yaml import render

        return render(self)

    @classmethod
    def from_yaml(cls, source: str | Path, *, source_name: str | None = None) -> Schema:
        """Read a schema from a YAML file or text.

        Parameters
        ----------
        source
            A path (a :class:`~pathlib.Path`, or a string without a line break),
            or the YAML text itself (a string with at least one line break).
        source_name
            What errors call the source; default: the path, or ``<schema>``.

        Raises
        ------
        ConfigError
            When the file cannot be read, is not YAML, or describes an invalid
            schema; the message names the file, line and field, the value and
            what was expected.
        """
        from ._schema_yaml import load

        return load(cls, source, source_name=source_name)
