"""The evaluation gate: does a candidate model deserve to be registered?

Two kinds of check, each written out in words with its numbers:

- **thresholds** (``evaluate.gate.thresholds``): each listed metric of the
  candidate must be at least its ``min`` and at most its ``max``. A metric
  that was not computed, or is NaN, fails: the gate never blesses on missing
  evidence.
- **no significant regression** against the model at the ``compare_to``
  alias (``production``), on the primary metric (the first of
  ``evaluate.metrics``): a paired bootstrap over the same eval rows gives an
  interval of the difference, signed so that positive means the candidate is
  better; the check passes when its lower bound is at least ``-tolerance``.
  Without a paired interval (none computed), the plain difference on all
  rows is held to the same bound. With no production model yet, thresholds
  alone decide.

The candidate is blessed when every check passes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import EvaluateConfig, GateConfig
from ..errors import GateRejectedError
from .metrics import higher_is_better

__all__ = ["Verdict", "gate"]


@dataclass(frozen=True)
class Verdict:
    """What the gate decided and why.

    Attributes
    ----------
    blessed
        Whether the candidate may be registered.
    reasons
        The sentences that decided: the failed checks when rejected, every
        check when blessed.
    checks
        Every check as a dict: ``check`` (``"threshold"`` or
        ``"no_regression"``), ``metric``, ``passed``, ``skipped``, ``value``
        (the candidate's value, or the lower bound of the difference),
        ``limit`` and ``message``.
    """

    blessed: bool
    reasons: list[str]
    checks: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """One paragraph: the decision, then its reasons."""
        head = "blessed" if self.blessed else "rejected"
        return f"candidate {head}: " + "; ".join(self.reasons)

    def raise_if_rejected(self) -> None:
        """Raise :class:`~shipyard.errors.GateRejectedError` (exit code 3) when rejected."""
        if not self.blessed:
            raise GateRejectedError(
                "the evaluation gate rejected the candidate: " + "; ".join(self.reasons)
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN written as None)."""
        return {
            "blessed": self.blessed,
            "reasons": list(self.reasons),
            "checks": [{k: _json(v) for k, v in c.items()} for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """The inverse of :meth:`to_dict`."""
        checks = [
            {k: (math.nan if v is None and k in ("value", "limit") else v) for k, v in c.items()}
            for c in data.get("checks", [])
        ]
        return cls(bool(data["blessed"]), list(data["reasons"]), checks)


def gate(
    candidate: Mapping[str, float],
    production: Mapping[str, float] | None,
    paired: tuple[float, float, float] | None,
    config: GateConfig | EvaluateConfig,
    *,
    metric: str | None = None,
    level: float = 0.95,
) -> Verdict:
    """Bless or reject a candidate model.

    Parameters
    ----------
    candidate
        The candidate's metrics (name -> value), the primary metric first.
    production
        The production model's metrics on the same eval rows; None when there
        is no production model yet.
    paired
        ``(delta, low, high)`` of :func:`~shipyard.evaluate.bootstrap.paired_bootstrap`
        on the primary metric (positive: candidate better); None if not computed.
    config
        The gate's settings, or the whole evaluate section (whose first metric is
        then the primary one).
    metric
        The primary metric; None: the first of ``config.metrics`` (an
        :class:`EvaluateConfig` that lists some), else the first of ``candidate``.
    level
        The confidence level of ``paired``'s interval, for the message.

    Returns
    -------
    Verdict
    """
    settings = config.gate if isinstance(config, EvaluateConfig) else config
    if metric is None and isinstance(config, EvaluateConfig) and config.metrics:
        metric = config.metrics[0]
    if metric is None and candidate:
        metric = next(iter(candidate))
    checks = [
        _threshold(name, candidate.get(name), t.min, t.max)
        for name, t in settings.thresholds.items()
    ]
    checks.append(_regression(candidate, production, paired, settings, metric, level))
    failed = [c["message"] for c in checks if not c["passed"]]
    if failed:
        return Verdict(False, failed, checks)
    return Verdict(True, [c["message"] for c in checks], checks)


def _threshold(
    name: str, value: float | None, low: float | None, high: float | None
) -> dict[str, Any]:
    bounds = " and ".join(
        part
        for part in (
            f"at least {low:g}" if low is not None else "",
            f"at most {high:g}" if high is not None else "",
        )
        if part
    )
    check: dict[str, Any] = {"check": "threshold", "metric": name, "skipped": False}
    limit = low if low is not None else high
    if value is None or math.isnan(value):
        what = "was not computed" if value is None else "is undefined (NaN) on the eval rows"
        return check | {
            "passed": False,
            "value": math.nan,
            "limit": limit,
            "message": f"{name} {what}; the gate needs it {bounds}",
        }
    if low is not None and value < low:
        message, passed, limit = f"{name} = {_v(value)} is below the minimum {low:g}", False, low
    elif high is not None and value > high:
        message, passed, limit = f"{name} = {_v(value)} is above the maximum {high:g}", False, high
    else:
        message, passed = f"{name} = {_v(value)} meets its threshold ({bounds})", True
    return check | {"passed": passed, "value": value, "limit": limit, "message": message}


def _regression(
    candidate: Mapping[str, float],
    production: Mapping[str, float] | None,
    paired: tuple[float, float, float] | None,
    settings: GateConfig,
    metric: str | None,
    level: float,
) -> dict[str, Any]:
    check: dict[str, Any] = {
        "check": "no_regression",
        "metric": metric,
        "limit": -settings.tolerance,
    }
    skip = check | {"passed": True, "skipped": True, "value": math.nan}
    if settings.compare_to is None:
        return skip | {
            "message": "no comparison configured (compare_to is null): thresholds alone decide"
        }
    if production is None:
        return skip | {
            "message": f"no model at alias {settings.compare_to!r} yet: thresholds alone decide"
        }
    if metric is None:
        return skip | {"message": "no metric computed to compare with production"}
    tol = settings.tolerance
    floor = _f(-tol + 0.0)  # + 0.0: a tolerance of 0 reads "+0", not "-0"
    higher = _higher(metric)
    cand, prod = candidate.get(metric, math.nan), production.get(metric, math.nan)
    direction = "candidate - production" if higher else "production - candidate, as lower is better"
    values = f"candidate {_v(cand)}, production {_v(prod)}"
    if paired is not None:
        delta, low, high = paired
        bound = low
        measured = (
            f"improvement on {metric} ({direction}) = {_f(delta)}, "
            f"{level:.0%} interval [{_f(low)}, {_f(high)}] over the same resampled rows"
        )
        named = "its lower bound"
    else:
        delta = (cand - prod) if higher else (prod - cand)
        bound = delta
        measured = f"improvement on {metric} ({direction}) = {_f(delta)} on all rows (no bootstrap)"
        named = "it"
    if math.isnan(bound):
        return check | {
            "passed": False,
            "skipped": False,
            "value": bound,
            "message": f"{metric} cannot be compared with {settings.compare_to!r} ({values}): "
            "the difference is undefined (NaN)",
        }
    # At -tolerance exactly still passes: with tolerance 0, a retrained model that
    # predicts exactly as production does (an interval of [0, 0]) is no regression.
    passed = bound >= -tol
    alias = repr(settings.compare_to)
    if passed:
        verdict = (
            f"{named} {_f(bound)} >= -tolerance {floor}: no significant regression against {alias}"
        )
    elif paired is not None and paired[2] < 0:
        verdict = (
            f"{named} {_f(bound)} is below -tolerance {floor} and the whole interval is below 0: "
            f"a significant regression against {alias}"
        )
    else:
        verdict = (
            f"{named} {_f(bound)} is below -tolerance {floor}: the candidate may be worse than "
            f"{alias} by more than the tolerance (not shown to be at least as good)"
        )
    return check | {
        "passed": passed,
        "skipped": False,
        "value": bound,
        "message": f"{measured} ({values}); {verdict}",
    }


def _higher(metric: str) -> bool:
    try:
        return higher_is_better(metric)
    except KeyError:
        return True  # a metric of the user's: assume a score, as most are


def _v(x: float) -> str:
    """A metric value: 4 decimals at the scale of most metrics, 4 significant digits beyond."""
    return f"{x:.4f}" if abs(x) < 10 else f"{x:.4g}"


def _f(x: float) -> str:
    """A difference, always signed."""
    return f"{x:+.4f}" if abs(x) < 10 else f"{x:+.4g}"


def _json(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value
