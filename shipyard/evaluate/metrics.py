"""Metrics by task: their names, which way is better, and their values on eval rows.

Every metric here is computed by one vectorised NumPy engine (``_engine.py``)
from a weight per row, so the value of :func:`compute_metrics`, the bootstrap
replicates of :mod:`~shipyard.evaluate.bootstrap` and the slices all come from
the same code. The values agree with scikit-learn's functions of the same
name (the tests check it, ties included):

========== ============ ======================================================
task       metric       definition
========== ============ ======================================================
binary     roc_auc      area under the ROC curve (tied scores count one half)
binary     pr_auc       average precision (sklearn's ``average_precision_score``)
binary     log_loss     mean negative log-likelihood, scores clipped to [eps, 1-eps]
binary     accuracy     share of rows whose label ``score >= threshold`` is right
binary     f1           F1 of the positive class at the threshold
binary     precision    precision at the threshold (0 when nothing is predicted)
binary     recall       recall at the threshold (0 when there is no positive)
binary     brier        mean squared error of the probability
binary     ece          expected calibration error: 10 equal bins of the score,
                        the row-weighted mean of |positive rate - mean score|
multiclass accuracy     share of rows whose arg-max class is right
multiclass log_loss     mean of -log P(true class), clipped to [eps, 1-eps]
multiclass macro_f1     unweighted mean of per-class F1 (classes seen in truth
                        or prediction)
multiclass roc_auc_ovr  unweighted mean over classes of one-vs-rest ROC AUC
regression rmse         root mean squared error
regression mae          mean absolute error
regression r2           coefficient of determination (1 or 0 for constant truth)
regression wape         sum |y - pred| / sum |y|: MAPE that stays finite at y = 0
========== ============ ======================================================

A metric that is undefined on the rows (ROC AUC with one class only) is NaN.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ._engine import Scorer
from ._inputs import TASKS, Task, check_inputs, check_task

__all__ = [
    "METRICS",
    "MetricInfo",
    "Task",
    "check_metrics",
    "compute_metrics",
    "default_metrics",
    "higher_is_better",
    "metric_info",
    "metric_names",
]


@dataclass(frozen=True)
class MetricInfo:
    """What a metric is: its task, its direction, and how it is shown."""

    name: str
    task: Task
    higher_is_better: bool
    label: str
    description: str


def _m(name: str, task: Task, higher: bool, label: str, description: str) -> MetricInfo:
    return MetricInfo(name, task, higher, label, description)


METRICS: dict[Task, tuple[MetricInfo, ...]] = {
    "binary": (
        _m("roc_auc", "binary", True, "ROC AUC", "area under the ROC curve"),
        _m("pr_auc", "binary", True, "PR AUC", "average precision"),
        _m("log_loss", "binary", False, "log loss", "mean negative log-likelihood"),
        _m("accuracy", "binary", True, "accuracy", "share of right labels at the threshold"),
        _m("f1", "binary", True, "F1", "F1 of the positive class at the threshold"),
        _m("precision", "binary", True, "precision", "precision at the threshold"),
        _m("recall", "binary", True, "recall", "recall at the threshold"),
        _m("brier", "binary", False, "Brier score", "mean squared error of the probability"),
        _m("ece", "binary", False, "ECE", "expected calibration error, 10 bins"),
    ),
    "multiclass": (
        _m("accuracy", "multiclass", True, "accuracy", "share of right arg-max classes"),
        _m("log_loss", "multiclass", False, "log loss", "mean -log P(true class)"),
        _m("macro_f1", "multiclass", True, "macro F1", "mean of per-class F1"),
        _m("roc_auc_ovr", "multiclass", True, "ROC AUC (OvR)", "mean one-vs-rest ROC AUC"),
    ),
    "regression": (
        _m("rmse", "regression", False, "RMSE", "root mean squared error"),
        _m("mae", "regression", False, "MAE", "mean absolute error"),
        _m("r2", "regression", True, "R²", "coefficient of determination"),
        _m("wape", "regression", False, "WAPE", "sum |error| / sum |truth|"),
    ),
}
"""The metrics of each task; the first is the task's primary metric."""


def metric_names(task: str) -> list[str]:
    """Return the names of the metrics of ``task``, the primary metric first.

    Parameters
    ----------
    task
        ``"binary"``, ``"multiclass"`` or ``"regression"``.

    Raises
    ------
    ValueError
        When ``task`` is not one of those.
    """
    return [m.name for m in METRICS[check_task(task)]]


def default_metrics(task: str) -> list[str]:
    """Return the metrics computed when the config lists none: all of the task's."""
    return metric_names(task)


def metric_info(task: str, name: str) -> MetricInfo:
    """Return what metric ``name`` of ``task`` is; ``KeyError`` when there is none."""
    for info in METRICS[check_task(task)]:
        if info.name == name:
            return info
    raise KeyError(name)


def higher_is_better(name: str, task: str | None = None) -> bool:
    """Whether a larger value of metric ``name`` is better (False for losses and errors).

    Raises
    ------
    KeyError
        When no task (or not ``task``) has a metric of that name.
    """
    tasks = TASKS if task is None else (check_task(task),)
    for t in tasks:
        for info in METRICS[t]:
            if info.name == name:
                return info.higher_is_better
    raise KeyError(name)


def check_metrics(
    task: str, names: Sequence[str] | None, *, field: str = "evaluate.metrics"
) -> list[str]:
    """Check metric names for ``task``; return them, or the task's defaults when empty.

    Parameters
    ----------
    task
        The learning task.
    names
        Metric names as listed in the config; None or empty: every metric of the task.
    field
        The config field the names come from, for the error message.

    Raises
    ------
    ConfigError
        For a name that ``task`` has no metric of: the error names the field and
        index (``evaluate.metrics[0]``), suggests the closest name, and lists
        the valid ones. A repeated name is an error too.
    """
    valid = metric_names(task)
    if not names:
        return valid
    seen: set[str] = set()
    for index, name in enumerate(names):
        where = f"{field}[{index}]"
        if not isinstance(name, str) or name not in valid:
            raise ConfigError(unknown_metric(task, name, valid), field=where)
        if name in seen:
            raise ConfigError(f"metric {name!r} is listed twice", field=where)
        seen.add(name)
    return list(names)


def unknown_metric(task: str, name: object, valid: list[str]) -> str:
    """The message for a metric ``name`` that ``task`` lacks: the closest name, and the valid ones."""
    message = f"unknown metric {name!r} for task {task!r}"
    others = [t for t in TASKS if t != task and isinstance(name, str) and name in metric_names(t)]
    if others:
        message = f"metric {name!r} is for task {others[0]!r}, not {task!r}"
    close = difflib.get_close_matches(str(name), valid, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message + f" Expected one of: {', '.join(valid)}"


def compute_metrics(
    task: str,
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    metrics: Sequence[str] | None = None,
    threshold: float = 0.5,
    sample_weight: npt.ArrayLike | None = None,
) -> dict[str, float]:
    """Compute metrics of one model's predictions on eval rows.

    Parameters
    ----------
    task
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    y_true
        Binary: 0/1 (or bool) of shape (n,); multiclass: class indices 0..k-1 of
        shape (n,); regression: numbers of shape (n,).
    y_score
        Binary: P(class 1) of shape (n,); multiclass: class probabilities of
        shape (n, k); regression: predictions of shape (n,).
    metrics
        Metric names (see :func:`metric_names`); None: all of the task's.
    threshold
        Binary only: a row is labelled positive when its score is at least this.
    sample_weight
        A non-negative weight per row; None: 1 each.

    Returns
    -------
    dict
        Metric name -> value, in the order of ``metrics``. NaN where a metric is
        undefined on these rows (ROC AUC with a single class).

    Raises
    ------
    ValueError
        For inputs of the wrong shape or values (the message names the
        argument), and :class:`~shipyard.errors.ConfigError` (a ValueError) for
        an unknown metric.
    """
    names = check_metrics(task, metrics, field="metrics")
    y, s, w = check_inputs(task, y_true, y_score, sample_weight)
    scorer = Scorer(check_task(task), y, s, names, threshold=threshold)
    weights = (np.ones(len(y)) if w is None else w)[None, :]
    return {name: float(values[0]) for name, values in scorer(weights).items()}
