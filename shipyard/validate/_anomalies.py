"""What validation found: one :class:`Anomaly` per column and rule, and their report.

Public through :mod:`shipyard.validate.schema`. An anomaly carries a count, at
most a handful of short example values and the first place it was seen, never
the data itself, so that a report of a billion-row dataset stays a few lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import DataValidationError
from ._column_types import JsonScalar, show
from ._schema_model import RULES, Rule, Severity

__all__ = ["MAX_EXAMPLES", "Anomalies", "Anomaly", "DataValidationError"]

MAX_EXAMPLES = 5
"""Example values kept per anomaly."""

# Table cells are cut to this width so that one odd value cannot stretch the table.
_CELL = 40


class Anomaly(BaseModel):
    """One rule broken by one column.

    Attributes
    ----------
    column
        The column.
    rule
        Which rule: ``missing_column``, ``extra_column``, ``type_mismatch``,
        ``unexpected_nulls``, ``out_of_domain`` or ``out_of_range``.
    severity
        ``error`` (stops a pipeline) or ``warning`` (recorded and shown).
    count
        Rows affected; None when unknown (a check from statistics alone cannot
        always count).
    examples
        Up to five offending values (or, for a type mismatch, the types seen).
    location
        Where it was first seen, e.g. ``shard 3, row 17``; None when unknown.
    message
        One sentence saying what was expected and what was found.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    rule: Rule
    severity: Severity
    count: int | None = Field(default=None, ge=0)
    examples: list[JsonScalar] = Field(default_factory=list, max_length=MAX_EXAMPLES)
    location: str | None = None
    message: str

    def summary(self) -> str:
        """One line: ``column 'x': out_of_domain: 12 rows, e.g. 'ZZ' (at shard 3, row 17): ...``."""
        parts = [f"column {self.column!r}: {self.rule}"]
        if self.count is not None:
            parts.append(f"{self.count} row{'s' if self.count != 1 else ''}")
        if self.examples:
            parts.append("e.g. " + ", ".join(show(v) for v in self.examples))
        head = ": ".join(parts[:2]) + "".join(", " + p for p in parts[2:])
        where = f" (first at {self.location})" if self.location else ""
        return f"{head}{where}: {self.message}"


class Anomalies(Sequence[Anomaly]):
    """The anomalies of one validation, errors first, then by column and rule.

    Parameters
    ----------
    items
        The anomalies.
    rows
        How many rows were checked, when known.
    """

    def __init__(self, items: Iterable[Anomaly] = (), *, rows: int | None = None) -> None:
        self._items = list(items)
        self.rows = rows

    @overload
    def __getitem__(self, index: int) -> Anomaly: ...
    @overload
    def __getitem__(self, index: slice) -> list[Anomaly]: ...
    def __getitem__(self, index: int | slice) -> Anomaly | list[Anomaly]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Anomaly]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Anomalies):
            return NotImplemented
        return self._items == other._items and self.rows == other.rows

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container: no hash

    def __repr__(self) -> str:
        return f"Anomalies({len(self.errors)} errors, {len(self.warnings)} warnings)"

    @property
    def errors(self) -> list[Anomaly]:
        """The anomalies of severity ``error``."""
        return [a for a in self._items if a.severity == "error"]

    @property
    def warnings(self) -> list[Anomaly]:
        """The anomalies of severity ``warning``."""
        return [a for a in self._items if a.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings may remain)."""
        return not self.errors

    def find(self, column: str, rule: Rule) -> Anomaly | None:
        """The anomaly of ``column`` under ``rule``, or None."""
        for anomaly in self._items:
            if anomaly.column == column and anomaly.rule == rule:
                return anomaly
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data; :meth:`from_dict` reads it back."""
        return {
            "rows": self.rows,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "anomalies": [a.model_dump(mode="json") for a in self._items],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Anomalies:
        """Read what :meth:`to_dict` wrote.

        Raises
        ------
        ValueError
            When ``data`` is not such a mapping; the message names the entry.
        """
        try:
            items = [Anomaly.model_validate(item) for item in data.get("anomalies", [])]
        except ValidationError as exc:
            raise ValueError(f"not a valid anomalies record: {exc}") from None
        rows = data.get("rows")
        return cls(items, rows=rows if isinstance(rows, int) else None)

    def to_text(self) -> str:
        """An aligned table for people: severity, column, rule, count, examples, where, message."""
        checked = f" in {self.rows:,} rows" if self.rows is not None else ""
        if not self._items:
            return f"no anomalies{checked}\n"
        head = (
            f"{_plural(len(self.errors), 'error')}, {_plural(len(self.warnings), 'warning')}"
            f"{checked}"
        )
        header = ("SEVERITY", "COLUMN", "RULE", "COUNT", "EXAMPLES", "WHERE", "MESSAGE")
        rows = [header] + [
            (
                a.severity,
                _cut(a.column),
                a.rule,
                "?" if a.count is None else f"{a.count:,}",
                _cut(", ".join(show(v) for v in a.examples)),
                _cut(a.location or ""),
                a.message,
            )
            for a in self._items
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        lines = [head]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        return "\n".join(lines) + "\n"

    def raise_for_errors(self) -> None:
        """Raise when there is an error; warnings alone pass.

        Raises
        ------
        DataValidationError
            Naming each error's column, rule, count, examples and location,
            followed by how many warnings there were.
        """
        errors = self.errors
        if not errors:
            return
        lines = [f"the data broke its schema: {_plural(len(errors), 'error')}"]
        lines += [f"  {a.summary()}" for a in errors]
        if self.warnings:
            lines.append(f"  (and {_plural(len(self.warnings), 'warning')})")
        raise DataValidationError("\n".join(lines), anomalies=errors)


def sort_key(anomaly: Anomaly, order: Mapping[str, int]) -> tuple[int, int, str, int]:
    """Errors first, then columns in schema order (unknown columns last), then rules."""
    return (
        0 if anomaly.severity == "error" else 1,
        order.get(anomaly.column, len(order)),
        anomaly.column,
        RULES.index(anomaly.rule),
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _cut(text: str) -> str:
    return text if len(text) <= _CELL else text[: _CELL - 3] + "..."
