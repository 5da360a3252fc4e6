"""Logging to the active step or run: curves in batches, params, importances, scores."""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .base import Task

if TYPE_CHECKING:
    import numpy as np

    from .model import TrainedModel


def tracking_active() -> bool:
    """True inside a running step or ``with shipyard.start_run():``."""
    from ..pipeline.context import RUN, STEP

    return STEP.get() is not None or RUN.get() is not None


class MetricSink:
    """Buffers metric points and writes them in batches to the active step or run.

    Boosters report a few metrics per iteration, often thousands of iterations:
    one metadata transaction per point would cost more than the training on small
    data. Points go out every ``interval`` seconds (so a dashboard sees curves grow)
    and on :meth:`flush`. Non-finite values are dropped: a metric such as AUC is
    NaN on an eval split with one class, and that must not stop training.
    """

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval
        self._rows: list[tuple[str, float, int, float]] = []
        self._last = time.monotonic()

    def add(self, key: str, value: float, step: int) -> None:
        v = float(value)
        if math.isnan(v):
            return
        self._rows.append((key, v, int(step), time.time()))
        if time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        from ..pipeline.context import RUN, STEP

        rows, self._rows, self._last = self._rows, [], time.monotonic()
        if not rows:
            return
        ctx = STEP.get()
        if ctx is not None:
            ctx.metrics.extend(rows)
            return
        run = RUN.get()
        if run is not None:
            run.project.metadata.log_metrics(run.id, rows)


CurveListener = Callable[[str, float, int], None]
"""Called with ``(key, value, step)`` for each point of a training curve."""

_LISTENER: contextvars.ContextVar[CurveListener | None] = contextvars.ContextVar(
    "shipyard_curve_listener", default=None
)


@contextlib.contextmanager
def listening(listener: CurveListener) -> Iterator[None]:
    """Send every curve point the trainers record inside the block to ``listener`` too.

    Tuning's pruner listens this way: the listener may raise (``optuna.TrialPruned``)
    to stop the training, and the exception leaves through the trainer's ``fit``.
    """
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def curve_point(sink: MetricSink | None, key: str, value: float, step: int) -> None:
    """Record one point of a training curve: to ``sink`` and to the listener, if any."""
    if sink is not None:
        sink.add(key, value, step)
    listener = _LISTENER.get()
    if listener is not None:
        listener(key, float(value), int(step))


def log_params(params: Mapping[str, Any]) -> None:
    """Log ``params`` to the active step or run; a no-op when neither is active."""
    if not tracking_active():
        return
    from ..pipeline.context import log_params as _log

    _log({k: jsonable(v) for k, v in params.items()})


def log_importances(importances: Mapping[str, float], prefix: str = "importance.") -> None:
    """Log each feature's importance as the metric ``importance.NAME`` (step 0)."""
    if not tracking_active():
        return
    sink = MetricSink()
    for name, value in importances.items():
        sink.add(f"{prefix}{name}", value, 0)
    sink.flush()


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (tuples -> lists, NumPy scalars -> numbers)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    item = getattr(value, "item", None)  # NumPy scalars
    if callable(item):
        return jsonable(item())
    return str(value)


def eval_metrics(task: Task, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The task's standard metrics under XGBoost's names: logloss and auc (binary),
    mlogloss and merror (multiclass), rmse (regression).

    For trainers without curves of their own (scikit-learn, user functions), so that
    every trainer reports ``eval_<metric>`` under the same names.
    """
    import numpy as np
    from sklearn import metrics

    if task == "regression":
        return {"rmse": float(np.sqrt(metrics.mean_squared_error(y, pred)))}
    if task == "binary":
        out = {"logloss": float(metrics.log_loss(y, pred, labels=[0, 1]))}
        if len(np.unique(y)) == 2:  # AUC is undefined for one class
            out["auc"] = float(metrics.roc_auc_score(y, pred))
        return out
    labels = list(range(pred.shape[1]))
    # float32 probabilities miss 1.0 by more than log_loss's tolerance: renormalise
    pred = np.asarray(pred, dtype=np.float64)
    pred = pred / pred.sum(axis=1, keepdims=True)
    return {
        "mlogloss": float(metrics.log_loss(y, pred, labels=labels)),
        "merror": float(np.mean(np.argmax(pred, axis=1) != y)),
    }


def score(
    model: TrainedModel,
    X: np.ndarray,
    y: np.ndarray,
    X_eval: np.ndarray | None,
    y_eval: np.ndarray | None,
) -> dict[str, float]:
    """Train and eval metrics (``train_<m>``, ``eval_<m>``), logged at step 0 when tracking."""
    out: dict[str, float] = {}
    for split, xs, ys in (("train", X, y), ("eval", X_eval, y_eval)):
        if xs is None or ys is None:
            continue
        for name, value in eval_metrics(model.task, ys, model.predict(xs)).items():
            out[f"{split}_{name}"] = value
    if tracking_active():
        sink = MetricSink()
        for key, value in out.items():
            sink.add(key, value, 0)
        sink.flush()
    return out
