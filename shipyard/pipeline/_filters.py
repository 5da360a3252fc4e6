"""Filters over runs: ``metrics.auc > 0.8 and params.depth = 5 and tags.team = ml``."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from ..errors import ShipyardError

__all__ = ["parse_filter"]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_CLAUSE = re.compile(
    r"^\s*(?P<field>(metrics|params|tags)\.[\w.\-]+|status|name|pipeline)\s*"
    r"(?P<op>==|!=|<=|>=|=|<|>)\s*(?P<value>.+?)\s*$"
)
_FORMS = (
    "expected clauses like 'metrics.auc > 0.8', 'params.depth = 5', 'tags.team = ml' or"
    " 'status = failed', joined by 'and'"
)


def _coerce(text: str) -> Any:
    text = text.strip().strip("'\"")
    try:
        return float(text)
    except ValueError:
        return text


def parse_filter(expr: str) -> Callable[[dict[str, Any]], bool]:
    """Compile ``expr`` into a predicate over run records (as ``MetadataStore.list_runs`` returns).

    Raises
    ------
    ShipyardError
        Naming the clause that does not parse and the accepted forms.
    """
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for clause in re.split(r"\s+and\s+", expr.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(clause)
        if not m:
            raise ShipyardError(f"filter clause {clause!r} does not parse; {_FORMS}")
        field, op, value = m["field"], _OPS[m["op"]], _coerce(m["value"])
        checks.append(_check(field, op, value))
    return lambda run: all(c(run) for c in checks)


def _check(
    field: str, op: Callable[[Any, Any], bool], value: Any
) -> Callable[[dict[str, Any]], bool]:
    section, _, key = field.partition(".")

    def check(run: dict[str, Any]) -> bool:
        actual = run[section].get(key) if key else run[section]
        if actual is None:
            return False
        if isinstance(value, float):
            try:
                actual = float(actual)
            except (TypeError, ValueError):
                return False
        else:
            actual = str(actual)
        try:
            return bool(op(actual, value))
        except TypeError:
            return False

    return check
