"""The search space: ``tune.space`` -> Optuna distributions, conditions and check points.

The config already refuses an empty or inverted range and a log range that
reaches 0 (with the line of the key); what it cannot see without Optuna is
checked here, before any trial: ``step`` with ``log``, a range that ``step``
does not divide, choices Optuna cannot store, and conditions that name a value
their param never takes. A condition's param is sampled before the params it
guards, so a trial samples a guarded param only when its condition holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from .._config_types import CONDITION
from ..errors import ConfigError

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

__all__ = [
    "Condition",
    "Param",
    "build_space",
    "check_points",
    "grid_size",
    "grid_space",
    "suggest",
]

_GRID_LIMIT = 100_000  # values of one param a grid may enumerate


@dataclass(frozen=True)
class Condition:
    """``param == value``, ``!=``, ``in [...]`` or ``not in [...]``."""

    param: str
    op: str
    value: Any

    def holds(self, sampled: Mapping[str, Any]) -> bool:
        """Whether the condition is met by the params sampled so far (False when its param is not)."""
        if self.param not in sampled:
            return False
        value = sampled[self.param]
        if self.op == "==":
            return bool(value == self.value)
        if self.op == "!=":
            return bool(value != self.value)
        inside = value in self.value
        return inside if self.op == "in" else not inside

    def example(self, choices: Sequence[Any] | None) -> Any:
        """A value of the param that meets the condition (None when there is none)."""
        if self.op == "==":
            return self.value
        if self.op == "in":
            return self.value[0]
        for choice in choices or ():
            if self.holds({self.param: choice}):
                return choice
        return None


@dataclass(frozen=True)
class Param:
    """One searched param: its Optuna distribution and its condition."""

    name: str
    distribution: BaseDistribution
    condition: Condition | None = None


def _field(name: str, key: str | None = None) -> str:
    return f"tune.space.{name}" + (f".{key}" if key else "")


def build_space(space: Mapping[str, Any]) -> list[Param]:
    """The params of ``tune.space`` (name -> ParamSpec or its dict), conditions' params first.

    Raises
    ------
    ConfigError
        Naming ``tune.space.NAME[.KEY]`` for what Optuna would refuse or silently change.
    """
    from .._config_sections import ParamSpec

    specs = {name: ParamSpec.model_validate(spec) for name, spec in space.items()}
    params = {name: _param(name, spec) for name, spec in specs.items()}
    for param in params.values():
        _check_condition(param, params)
    return _ordered(params)


def _param(name: str, spec: Any) -> Param:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    dist: BaseDistribution
    if spec.type == "categorical":
        for choice in spec.choices:
            if choice is not None and not isinstance(choice, bool | int | float | str):
                raise ConfigError(
                    f"choices must be numbers, strings, booleans or null; got {choice!r}",
                    field=_field(name, "choices"),
                )
        if len({repr(c) for c in spec.choices}) < len(spec.choices):
            raise ConfigError(f"choices list a value twice: {spec.choices}", field=_field(name))
        dist = CategoricalDistribution(list(spec.choices))
    else:
        if spec.log and spec.step is not None:
            raise ConfigError(
                f"step={spec.step:g} cannot be used with log=true (Optuna samples a log range"
                " continuously); drop one",
                field=_field(name, "step"),
            )
        low, high, step = spec.low, spec.high, spec.step
        if step is not None:
            span = (high - low) / step
            if abs(span - round(span)) > 1e-9 * max(1.0, abs(span)):
                raise ConfigError(
                    f"high - low = {high - low:g} must be a multiple of step={step:g}"
                    f" (low={low}, high={high})",
                    field=_field(name, "step"),
                )
        if spec.type == "int":
            dist = IntDistribution(int(low), int(high), log=spec.log, step=int(step or 1))
        else:
            dist = FloatDistribution(float(low), float(high), log=spec.log, step=step)
    condition = None
    if spec.condition is not None:
        match = CONDITION.fullmatch(spec.condition)
        assert match is not None  # the config checked the grammar
        try:
            value = yaml.safe_load(match[3])
        except yaml.YAMLError:
            value = match[3]
        if match[2] in ("in", "not in") and not isinstance(value, list):
            raise ConfigError(
                f"condition {spec.condition!r}: {match[2]!r} needs a list such as [a, b]",
                field=_field(name, "condition"),
            )
        condition = Condition(match[1], match[2], value)
    return Param(name, dist, condition)


def _check_condition(param: Param, params: Mapping[str, Param]) -> None:
    from optuna.distributions import CategoricalDistribution

    cond = param.condition
    if cond is None:
        return
    parent = params[cond.param]  # the config checked that it exists
    values = cond.value if cond.op in ("in", "not in") else [cond.value]
    dist = parent.distribution
    if isinstance(dist, CategoricalDistribution):
        missing = [v for v in values if v not in dist.choices]
        if missing and cond.op in ("==", "in"):
            raise ConfigError(
                f"condition compares {cond.param!r} with {missing[0]!r}, which is not one of its"
                f" choices {list(dist.choices)}",
                field=_field(param.name, "condition"),
            )
        if cond.example(dist.choices) is None:
            raise ConfigError(
                f"condition {cond.param} {cond.op} {cond.value!r} never holds:"
                f" {cond.param!r} takes only {list(dist.choices)}",
                field=_field(param.name, "condition"),
            )


def _ordered(params: Mapping[str, Param]) -> list[Param]:
    """Params with each condition's param before the params it guards; cycles are errors."""
    out: list[Param] = []
    placed: set[str] = set()
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in placed:
            return
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise ConfigError(f"conditions form a cycle: {cycle}", field=_field(name, "condition"))
        visiting.append(name)
        cond = params[name].condition
        if cond is not None:
            visit(cond.param)
        visiting.pop()
        placed.add(name)
        out.append(params[name])

    for name in params:
        visit(name)
    return out


def suggest(trial: optuna.Trial, space: Sequence[Param]) -> dict[str, Any]:
    """Sample one point: each param whose condition holds, in the space's order."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in space:
        if p.condition is not None and not p.condition.holds(out):
            continue
        d: Any = p.distribution
        if isinstance(d, CategoricalDistribution):
            out[p.name] = trial.suggest_categorical(p.name, d.choices)
        elif isinstance(d, IntDistribution):
            out[p.name] = trial.suggest_int(p.name, d.low, d.high, step=d.step, log=d.log)
        else:
            out[p.name] = trial.suggest_float(p.name, d.low, d.high, step=d.step, log=d.log)
    return out


def check_points(space: Sequence[Param]) -> list[dict[str, Any]]:
    """Points that together give every param, and both ends of every range, to the trainer.

    The lows (first choices), the highs (last choices), each other choice, and for a
    guarded param its low and high with its conditions met.
    """
    from optuna.distributions import CategoricalDistribution

    def ends(at_high: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in space:
            d: Any = p.distribution
            if isinstance(d, CategoricalDistribution):
                out[p.name] = d.choices[-1 if at_high else 0]
            else:
                out[p.name] = d.high if at_high else d.low
        return out

    bases = [ends(False), ends(True)]
    for p in space:
        d = p.distribution
        if isinstance(d, CategoricalDistribution):
            bases += [{**bases[0], p.name: c} for c in d.choices[1:-1]]
    choices = {
        p.name: list(p.distribution.choices)
        for p in space
        if isinstance(p.distribution, CategoricalDistribution)
    }
    points = [_active(b, space) for b in bases]
    for p in space:
        for end in bases[:2]:  # a guarded param at both ends of its range too
            if p.condition is None or p.name in _active(end, space):
                continue
            base = dict(end)
            chain: Param | None = p
            while chain is not None and chain.condition is not None:  # meet each condition up
                cond = chain.condition
                base[cond.param] = cond.example(choices.get(cond.param))
                chain = next((q for q in space if q.name == cond.param), None)
            points.append(_active(base, space))
    unique: list[dict[str, Any]] = []
    for pt in points:
        if pt not in unique:
            unique.append(pt)
    return unique


def _active(point: Mapping[str, Any], space: Sequence[Param]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in space:
        if p.condition is None or p.condition.holds(out):
            out[p.name] = point[p.name]
    return out


def grid_space(space: Sequence[Param]) -> dict[str, list[Any]]:
    """Every value of every param, for the grid sampler.

    Raises
    ------
    ConfigError
        For a float range without ``step``, a log range, a conditional param, or a
        range of more than 100,000 values.
    """
    from optuna.distributions import CategoricalDistribution, IntDistribution

    grid: dict[str, list[Any]] = {}
    for p in space:
        d: Any = p.distribution
        if p.condition is not None:
            raise ConfigError(
                "sampler 'grid' cannot search a conditional param; use tpe or random",
                field=_field(p.name, "condition"),
            )
        if isinstance(d, CategoricalDistribution):
            grid[p.name] = list(d.choices)
            continue
        if d.log or (not isinstance(d, IntDistribution) and d.step is None):
            raise ConfigError(
                "sampler 'grid' needs a step (and no log) for every int and float param",
                field=_field(p.name, "step"),
            )
        count = int(round((d.high - d.low) / d.step)) + 1
        if count > _GRID_LIMIT:
            raise ConfigError(
                f"sampler 'grid' would enumerate {count:,} values of {p.name!r}; widen step",
                field=_field(p.name, "step"),
            )
        values = [d.low + i * d.step for i in range(count)]
        grid[p.name] = [int(v) for v in values] if isinstance(d, IntDistribution) else values
    return grid


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    """How many points a grid holds."""
    return math.prod(len(v) for v in grid.values())
