"""The active step or tracked run, so ``shipyard.log_metric`` knows where to write.

Inside a step (in a worker process or inline) metrics are buffered and handed
back with the step's result; the parent records them with the execution in one
transaction. Inside ``with shipyard.start_run():`` they are written at once.
"""

from __future__ import annotations

import contextvars
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ShipyardError

if TYPE_CHECKING:
    from .tracking import ActiveRun

__all__ = [
    "StepContext",
    "current_seed",
    "scratch_dir",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "mark_inexact",
]


@dataclass
class StepContext:
    """What a running step knows of itself."""

    run_id: str
    node: str
    seed: int
    scratch: Path | None = None  # a folder on the artifact store's filesystem, removed after
    metrics: list[tuple[str, float, int, float]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    inexact: dict[str, Any] | None = None  # set by mark_inexact
    _counters: dict[str, int] = field(default_factory=dict)

    def next_step(self, key: str) -> int:
        n = self._counters.get(key, 0)
        self._counters[key] = n + 1
        return n


STEP: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar("step", default=None)
RUN: contextvars.ContextVar[ActiveRun | None] = contextvars.ContextVar("run", default=None)


def _value(key: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ShipyardError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}"
        ) from None
    if math.isnan(v):
        raise ShipyardError(f"metric {key!r} is NaN; log a number")
    return v


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record a metric of the current step or tracked run.

    Parameters
    ----------
    key
        The metric's name, e.g. ``"auc"``.
    value
        A finite number (infinity is kept; NaN is refused).
    step
        The iteration, for curves; counts up from 0 per key when omitted.

    Raises
    ------
    ShipyardError
        Outside a step and outside ``with shipyard.start_run()``.
    """
    v = _value(key, value)
    ctx = STEP.get()
    if ctx is not None:
        ctx.metrics.append((key, v, ctx.next_step(key) if step is None else step, time.time()))
        return
    run = RUN.get()
    if run is not None:
        run.log_metric(key, v, step)
        return
    raise ShipyardError(
        "log_metric was called outside a step and outside `with shipyard.start_run():`;"
        " there is no run to record it in"
    )


def log_metrics(values: dict[str, float], step: int | None = None) -> None:
    """Record several metrics at once (see :func:`log_metric`)."""
    for k, v in values.items():
        log_metric(k, v, step)


def log_param(key: str, value: Any) -> None:
    """Record a parameter of the current run."""
    ctx = STEP.get()
    if ctx is not None:
        ctx.params[key] = value
        return
    run = RUN.get()
    if run is not None:
        run.log_params({key: value})
        return
    raise ShipyardError(
        "log_param was called outside a step and outside `with shipyard.start_run():`"
    )


def log_params(values: dict[str, Any]) -> None:
    """Record several parameters at once."""
    for k, v in values.items():
        log_param(k, v)


def mark_inexact(metrics: list[str], tolerance: float) -> None:
    """Declare that this execution of the step cannot repeat exactly (a time budget,
    parallel workers): ``shipyard reproduce`` then compares ``metrics`` it logged within
    ``tolerance`` (relative) instead of its output digests. A no-op outside a step.
    """
    ctx = STEP.get()
    if ctx is not None:
        ctx.inexact = {"metrics": list(metrics), "tolerance": float(tolerance)}


def current_seed() -> int:
    """The seed the engine gave the current step (derived from the run seed and node name)."""
    ctx = STEP.get()
    if ctx is None:
        raise ShipyardError("current_seed() is only known inside a running step")
    return ctx.seed


def scratch_dir() -> Path:
    """A fresh, empty folder for a step to build large outputs in.

    Inside a step it lies on the artifact store's filesystem, so that a Dataset
    built there is moved into the store by a rename rather than copied; it is
    removed when the step ends. Outside a step it is a new temporary folder that
    the caller owns.
    """
    ctx = STEP.get()
    if ctx is not None and ctx.scratch is not None:
        ctx.scratch.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=ctx.scratch))
    return Path(tempfile.mkdtemp(prefix="shipyard-"))
