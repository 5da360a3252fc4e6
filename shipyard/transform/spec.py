"""The transform ops: what each takes, what it gives, its parameters and their checks.

A feature's transforms run in order on one value that changes *stage* as it
goes: ``numeric`` (numbers), ``categorical`` (strings), ``codes`` (category
codes, after ``vocabulary``, ``top_k``, ``hashing`` or ``quantile_buckets``) and
``datetime``. An *encoding* (``onehot``, ``ordinal``, ``encode``,
``target_encode``) ends the chain; ``parts`` and ``cyclical`` each add columns
computed from a datetime. :data:`OPS` is the table; :func:`check_params` checks
one op's parameters and fills in their defaults.

Each op in YAML::

    - {op: impute, strategy: median}
    - {op: clip, lower: -60, upper: 600}
    - {op: vocabulary, min_frequency: 5, oov_buckets: 2}
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigError
from ._steps import CYCLES, PARTS

__all__ = [
    "DATETIME_PARTS",
    "KINDS",
    "OPS",
    "STAGE_WORDS",
    "OpDef",
    "Param",
    "check_params",
    "choices_text",
    "ops_for",
    "suggest",
]

Stage = Literal["numeric", "categorical", "codes", "datetime", "done"]

KINDS = ("numeric", "categorical", "datetime")
"""Feature kinds the transform stage handles (``text`` is not one yet)."""

STAGE_WORDS: dict[str, str] = {
    "numeric": "numbers",
    "categorical": "categories",
    "codes": "category codes",
    "datetime": "datetimes",
    "done": "an encoded feature",
}

DATETIME_PARTS = PARTS
"""Parts of a datetime: hour, minute, weekday (Monday is 0), day, dayofyear, month, year."""
_CYCLICAL_PARTS = tuple(CYCLES)
_DEFAULT_PARTS = ("hour", "weekday", "month")

_REQUIRED: Any = object()


class _BadParam(Exception):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Param:
    """One parameter of an op.

    ``type`` is one of ``int``, ``number``, ``str``, ``scalar`` (a string or a
    number, checked by the op's own rule) and ``parts`` (a list of datetime
    parts). ``minimum`` bounds numbers from below; ``nullable`` allows ``None``
    (which then means "not set" or "no limit").
    """

    name: str
    type: str
    default: Any = _REQUIRED
    minimum: float | None = None
    nullable: bool = False
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class OpDef:
    """An op: the stages it takes, the stage it gives (``None``: unchanged), its parameters.

    ``check`` enforces rules between parameters, given the checked values and the stage.
    """

    name: str
    takes: tuple[Stage, ...]
    gives: Stage | None
    params: tuple[Param, ...] = ()
    summary: str = ""
    check: Callable[[dict[str, Any], str], None] | None = field(default=None, compare=False)


# -- cross-parameter rules -------------------------------------------------------------


def _check_impute(params: dict[str, Any], stage: str) -> None:
    strategies = (
        ("mean", "median", "constant") if stage == "numeric" else ("most_frequent", "constant")
    )
    strategy, value = params["strategy"], params["value"]
    if strategy is None:
        strategy = "constant" if value is not None else strategies[1 if stage == "numeric" else 0]
        params["strategy"] = strategy
    if strategy not in strategies:
        raise _BadParam(
            "strategy",
            f"strategy={strategy!r} does not impute {STAGE_WORDS[stage]}; "
            + choices_text(strategies, strategy),
        )
    if strategy == "constant" and value is None:
        raise _BadParam("value", "strategy 'constant' needs value, the value to fill in")
    if strategy != "constant" and value is not None:
        raise _BadParam(
            "value", f"value={value!r} needs strategy 'constant'; strategy is {strategy!r}"
        )
    if value is None:
        return
    if stage == "numeric":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _BadParam(
                "value", f"value={value!r} must be a finite number for a numeric column"
            )
        params["value"] = float(value)
    elif isinstance(value, bool) or not isinstance(value, str | int):
        raise _BadParam("value", f"value={value!r} must be a string for a categorical column")
    else:
        params["value"] = str(value)


def _check_clip(params: dict[str, Any], stage: str) -> None:
    lower, upper = params["lower"], params["upper"]
    if lower is None and upper is None:
        raise _BadParam("lower", "clip needs lower, upper or both")
    if lower is not None and upper is not None and lower > upper:
        raise _BadParam("lower", f"lower={lower} is above upper={upper}")


def _check_parts(params: dict[str, Any], stage: str) -> None:
    parts = params["parts"]
    if not parts:
        raise _BadParam("parts", "parts must name at least one part")
    dupes = sorted({p for p in parts if parts.count(p) > 1})
    if dupes:
        raise _BadParam("parts", f"parts lists {dupes} twice")


def _check_cyclical(params: dict[str, Any], stage: str) -> None:
    _check_parts(params, stage)
    for part in params["parts"]:
        if part not in _CYCLICAL_PARTS:
            raise _BadParam(
                "parts",
                f"part {part!r} has no cycle; "
                + choices_text(_CYCLICAL_PARTS, part, label="cyclical parts"),
            )


_MIN_FREQUENCY = Param(
    "min_frequency", "int", 1, minimum=1, doc="Values seen fewer times are out of vocabulary."
)
_OOV_BUCKETS = Param(
    "oov_buckets", "int", 1, minimum=1, doc="Buckets for out-of-vocabulary values (hashed)."
)
_PARTS = Param(
    "parts", "parts", list(_DEFAULT_PARTS), doc="Datetime parts: " + ", ".join(DATETIME_PARTS)
)

OPS: dict[str, OpDef] = {
    op.name: op
    for op in (
        OpDef(
            "impute",
            ("numeric", "categorical"),
            None,
            (
                Param(
                    "strategy",
                    "str",
                    None,
                    nullable=True,
                    doc="mean, median, constant (numbers); most_frequent, constant (categories).",
                ),
                Param(
                    "value",
                    "scalar",
                    None,
                    nullable=True,
                    doc="The value filled in by strategy constant.",
                ),
            ),
            "fill in missing values",
            _check_impute,
        ),
        OpDef(
            "clip",
            ("numeric",),
            None,
            (
                Param("lower", "number", None, nullable=True, doc="Smaller values become lower."),
                Param("upper", "number", None, nullable=True, doc="Larger values become upper."),
            ),
            "limit values to [lower, upper]",
            _check_clip,
        ),
        OpDef("log1p", ("numeric",), None, (), "log(1 + x); NaN below -1"),
        OpDef("standardize", ("numeric",), None, (), "(x - mean) / std, fitted"),
        OpDef("minmax", ("numeric",), None, (), "(x - min) / (max - min), fitted"),
        OpDef(
            "quantile_buckets",
            ("numeric",),
            "codes",
            (Param("buckets", "int", 10, minimum=2, doc="Buckets of about equal counts."),),
            "bucket index between fitted quantiles",
        ),
        OpDef(
            "vocabulary",
            ("categorical",),
            "codes",
            (
                _MIN_FREQUENCY,
                Param(
                    "max_size",
                    "int",
                    None,
                    minimum=1,
                    nullable=True,
                    doc="Keep the most frequent values only.",
                ),
                _OOV_BUCKETS,
            ),
            "code of each value in the fitted vocabulary; others go to the OOV bucket",
        ),
        OpDef(
            "top_k",
            ("categorical",),
            "codes",
            (
                Param("k", "int", minimum=1, doc="Keep the k most frequent values."),
                _MIN_FREQUENCY,
                _OOV_BUCKETS,
            ),
            "vocabulary of the k most frequent values",
        ),
        OpDef(
            "hashing",
            ("categorical",),
            "codes",
            (Param("buckets", "int", 1024, minimum=1, doc="Number of hash buckets."),),
            "hash of each value into buckets",
        ),
        OpDef("onehot", ("codes",), "done", (), "one column per code"),
        OpDef("ordinal", ("codes",), "done", (), "the code as one number"),
        OpDef(
            "encode",
            ("codes",),
            "done",
            (
                Param(
                    "max_onehot",
                    "int",
                    20,
                    minimum=0,
                    doc="One-hot up to this many values, else ordinal.",
                ),
            ),
            "onehot for few values, ordinal for many",
        ),
        OpDef(
            "target_encode",
            ("categorical",),
            "done",
            (
                Param(
                    "folds",
                    "int",
                    5,
                    minimum=2,
                    doc="Folds of the out-of-fold encoding of training rows.",
                ),
                Param(
                    "smoothing",
                    "number",
                    10.0,
                    minimum=0,
                    doc="Weight of the global mean, in rows.",
                ),
            ),
            "smoothed mean of the target per value, out of fold for training rows",
        ),
        OpDef("parts", ("datetime",), None, (_PARTS,), "datetime parts as numbers", _check_parts),
        OpDef(
            "cyclical",
            ("datetime",),
            None,
            (
                Param(
                    "parts",
                    "parts",
                    list(_DEFAULT_PARTS),
                    doc="Parts: " + ", ".join(_CYCLICAL_PARTS),
                ),
            ),
            "sine and cosine of datetime parts",
            _check_cyclical,
        ),
    )
}
"""Every op by name."""


def ops_for(stage: str) -> list[str]:
    """The ops that take values of ``stage`` (for categorical, also those that take codes)."""
    stages = {stage, "codes"} if stage == "categorical" else {stage}
    return [name for name, op in OPS.items() if stages & set(op.takes)]


def suggest(value: str, choices: Sequence[str]) -> str:
    """``"did you mean 'x'? "`` for a close match of ``value`` among ``choices``, else ``""``."""
    close = difflib.get_close_matches(value, list(choices), n=2, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(repr(c) for c in close) + "? "


def choices_text(
    choices: Sequence[str], value: str | None = None, *, label: str = "choices", limit: int = 40
) -> str:
    """``"did you mean 'x'? choices: a, b, c"``: the choices for an error message.

    The suggestion (a close match of ``value``) comes first when there is one.
    """
    shown = ", ".join(str(c) for c in list(choices)[:limit])
    if len(choices) > limit:
        shown += f", ... ({len(choices) - limit} more)"
    hint = suggest(value, [str(c) for c in choices]) if value is not None else ""
    return f"{hint}{label}: {shown}"


def _convert(param: Param, value: Any) -> Any:
    """The checked value of one parameter, or raise ``_BadParam``."""
    name = param.name
    if value is None:
        if param.nullable:
            return None
        raise _BadParam(name, f"{name} must not be empty")
    if param.type == "int":
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole:
            raise _BadParam(name, f"{name}={value!r} must be a whole number")
        value = int(value)
    elif param.type == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _BadParam(name, f"{name}={value!r} must be a finite number")
        value = float(value)
    elif param.type == "str":
        if not isinstance(value, str):
            raise _BadParam(name, f"{name}={value!r} must be a string")
    elif param.type == "parts":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _BadParam(name, f"{name}={value!r} must be a list of datetime parts")
        for part in value:
            if part not in DATETIME_PARTS:
                raise _BadParam(
                    name,
                    f"unknown part {part!r}; "
                    + choices_text(list(DATETIME_PARTS), part, label="parts"),
                )
        value = list(value)
    if param.minimum is not None and value < param.minimum:
        raise _BadParam(name, f"{name}={value!r} must be at least {param.minimum:g}")
    return value


def check_params(op: OpDef, given: Mapping[str, Any], stage: str, field: str) -> dict[str, Any]:
    """Check the parameters ``given`` to ``op`` at ``stage``; return them with defaults filled in.

    Parameters
    ----------
    op
        The op.
    given
        Its parameters as written (every key but ``op``).
    stage
        The stage of the values it takes.
    field
        The config field of the transform, e.g. ``features.columns[3].transforms[0]``.

    Raises
    ------
    ConfigError
        Naming the parameter's field, its value and what was expected.
    """
    names = [p.name for p in op.params]
    params: dict[str, Any] = {}
    for key in given:
        if key not in names:
            valid = ", ".join(names) if names else "none"
            raise ConfigError(
                f"op {op.name!r} has no parameter {key!r}; {suggest(key, names)}its parameters: {valid}",
                field=f"{field}.{key}",
            )
    try:
        for p in op.params:
            if p.name in given:
                params[p.name] = _convert(p, given[p.name])
            elif p.required:
                raise _BadParam(p.name, f"op {op.name!r} needs {p.name} ({p.doc})")
            else:
                default = p.default
                params[p.name] = list(default) if isinstance(default, list) else default
        if op.check is not None:
            op.check(params, stage)
    except _BadParam as exc:
        raise ConfigError(str(exc), field=f"{field}.{exc.param}") from None
    return params
