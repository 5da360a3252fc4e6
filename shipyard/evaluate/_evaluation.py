"""One evaluation of a candidate model: metrics, intervals, comparison, gate, slices, plots."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy.typing as npt

from ..config import EvaluateConfig
from ..errors import ConfigError
from ._curves import curves
from ._inputs import check_inputs, check_task
from ._slices import evaluate_slices
from .bootstrap import bootstrap, paired_bootstrap
from .gate import Verdict, gate
from .metrics import check_metrics, compute_metrics, metric_names, unknown_metric

__all__ = ["PAIRED_REPLICATES", "Evaluation", "evaluate"]

PAIRED_REPLICATES = 1000
"""Replicates of the gate's paired bootstrap when ``evaluate.bootstrap`` is 0."""
ALPHA = 0.05  # 95% intervals


@dataclass
class Evaluation:
    """Everything one evaluation found, as plain data (see :meth:`to_dict`).

    Attributes
    ----------
    task
        The learning task.
    rows
        Eval rows.
    metrics
        The candidate's metrics, the primary metric first.
    intervals
        Metric -> 95% bootstrap interval of the candidate (empty: no bootstrap).
    threshold
        Binary: the candidate's label threshold.
    production, production_intervals
        The same for the model at the compared alias; None / empty without one.
    comparison
        The paired bootstrap on the primary metric: ``metric``, ``delta``,
        ``low``, ``high`` (positive: candidate better), ``replicates``, ``level``.
    verdict
        The gate's decision.
    slices
        Metrics per slice (see :func:`~shipyard.evaluate.evaluate_slices`).
    importances
        Kind (``"gain"``, ``"permutation"``) -> feature -> share, or (mean, std).
    curves
        ``"candidate"`` / ``"production"`` -> the data of the report's plots.
    """

    task: str
    rows: int
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    threshold: float | None = None
    production: dict[str, float] | None = None
    production_intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    comparison: dict[str, Any] | None = None
    verdict: Verdict | None = None
    slices: list[dict[str, Any]] = field(default_factory=list)
    importances: dict[str, dict[str, Any]] = field(default_factory=dict)
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def blessed(self) -> bool:
        """Whether the gate blessed the candidate (True when no gate ran)."""
        return self.verdict is None or self.verdict.blessed

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: tuples as lists, NaN as None."""
        return {
            "task": self.task,
            "rows": self.rows,
            "metrics": _clean(self.metrics),
            "intervals": _clean(self.intervals),
            "threshold": self.threshold,
            "production": _clean(self.production),
            "production_intervals": _clean(self.production_intervals),
            "comparison": _clean(self.comparison),
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "slices": _clean(self.slices),
            "importances": _clean(self.importances),
            "curves": self.curves,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        """The inverse of :meth:`to_dict`."""
        production = data.get("production")
        comparison = data.get("comparison")
        verdict = data.get("verdict")
        return cls(
            task=data["task"],
            rows=int(data["rows"]),
            metrics=_numbers(data["metrics"]),
            intervals=_pairs(data.get("intervals") or {}),
            threshold=data.get("threshold"),
            production=None if production is None else _numbers(production),
            production_intervals=_pairs(data.get("production_intervals") or {}),
            comparison=None
            if comparison is None
            else {
                k: _nan(v) if k in ("delta", "low", "high") else v for k, v in comparison.items()
            },
            verdict=None if verdict is None else Verdict.from_dict(verdict),
            slices=[s | {"metrics": _numbers(s["metrics"])} for s in data.get("slices") or []],
            importances={
                kind: {f: tuple(v) if isinstance(v, list) else v for f, v in values.items()}
                for kind, values in (data.get("importances") or {}).items()
            },
            curves=dict(data.get("curves") or {}),
        )


def evaluate(
    task: str,
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    config: EvaluateConfig | None = None,
    threshold: float = 0.5,
    production_score: npt.ArrayLike | None = None,
    production_threshold: float | None = None,
    slices: Mapping[str, npt.ArrayLike] | None = None,
    sample_weight: npt.ArrayLike | None = None,
    importances: Mapping[str, Mapping[str, Any]] | None = None,
    labels: Sequence[str] | None = None,
    seed: int = 0,
) -> Evaluation:
    """Evaluate a candidate model on eval rows and run the gate.

    Parameters
    ----------
    task, y_true, y_score, sample_weight
        As for :func:`~shipyard.evaluate.metrics.compute_metrics`.
    config
        The evaluate section: metrics (first: the primary one), slices,
        bootstrap replicates, gate. None: the defaults.
    threshold
        Binary: the candidate's stored label threshold (see
        :func:`~shipyard.evaluate.choose_threshold`).
    production_score
        The production model's ``y_score`` on the same rows; None when there
        is no production model yet (thresholds alone decide).
    production_threshold
        Binary: the production model's own threshold; None: ``threshold``.
    slices
        Column name -> value per row; must hold every column of ``config.slices``.
    importances
        Kind -> feature -> importance, computed by the caller (see
        :mod:`~shipyard.evaluate.importance`), kept for the report.
    labels
        Multiclass: a name per class index, for the report.
    seed
        Seed of the bootstrap.

    Returns
    -------
    Evaluation
        With a verdict. The paired bootstrap of the gate uses
        ``config.bootstrap`` replicates, or :data:`PAIRED_REPLICATES` when that is 0.

    Raises
    ------
    ConfigError
        For a metric (listed or thresholded) the task does not have, or a
        slice column that is not given.
    ValueError
        For bad inputs.
    """
    config = config or EvaluateConfig()
    checked = check_task(task)
    names = check_metrics(checked, config.metrics)
    _check_gate(checked, config)
    given = dict(slices or {})
    for index, column in enumerate(config.slices):
        if column not in given:
            raise ConfigError(
                f"slice column {column!r} is not in the eval data; got "
                f"{', '.join(repr(c) for c in given) or 'no columns'}",
                field=f"evaluate.slices[{index}]",
            )
    y, s, w = check_inputs(checked, y_true, y_score, sample_weight)
    if labels is not None and checked == "multiclass" and len(labels) != s.shape[1]:
        raise ValueError(f"labels has {len(labels)} names for {s.shape[1]} classes of y_score")
    result = Evaluation(
        task=checked,
        rows=len(y),
        metrics=compute_metrics(checked, y, s, metrics=names, threshold=threshold, sample_weight=w),
        threshold=threshold if checked == "binary" else None,
    )
    if config.bootstrap:
        result.intervals = bootstrap(
            checked,
            y,
            s,
            names,
            n=config.bootstrap,
            seed=seed,
            threshold=threshold,
            sample_weight=w,
        )
    result.curves["candidate"] = curves(checked, y, s, w, threshold=threshold, labels=labels)
    paired = None
    if production_score is not None:
        _, p, _ = check_inputs(checked, y, production_score, score_name="production_score")
        other = threshold if production_threshold is None else production_threshold
        result.production = compute_metrics(
            checked, y, p, metrics=names, threshold=other, sample_weight=w
        )
        if config.bootstrap:
            result.production_intervals = bootstrap(
                checked,
                y,
                p,
                names,
                n=config.bootstrap,
                seed=seed,
                threshold=other,
                sample_weight=w,
            )
        replicates = config.bootstrap or PAIRED_REPLICATES
        paired = paired_bootstrap(
            checked,
            y,
            s,
            p,
            names[0],
            n=replicates,
            seed=seed,
            alpha=ALPHA,
            threshold=threshold,
            production_threshold=other,
            sample_weight=w,
        )
        result.comparison = {
            "metric": names[0],
            "delta": paired.delta,
            "low": paired.low,
            "high": paired.high,
            "replicates": replicates,
            "level": 1 - ALPHA,
        }
        result.curves["production"] = curves(checked, y, p, w, threshold=other, labels=labels)
    result.verdict = gate(
        result.metrics, result.production, paired, config, metric=names[0], level=1 - ALPHA
    )
    if given:
        result.slices = evaluate_slices(
            checked, y, s, given, metrics=names, threshold=threshold, sample_weight=w
        )
    result.importances = {kind: dict(values) for kind, values in (importances or {}).items()}
    return result


def _check_gate(task: str, config: EvaluateConfig) -> None:
    valid = metric_names(task)
    for name in config.gate.thresholds:
        if name not in valid:
            raise ConfigError(
                unknown_metric(task, name, valid), field=f"evaluate.gate.thresholds.{name}"
            )


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _nan(value: Any) -> Any:
    return math.nan if value is None else value


def _numbers(values: Mapping[str, Any]) -> dict[str, float]:
    return {k: math.nan if v is None else float(v) for k, v in values.items()}


def _pairs(values: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    return {k: (_nan(v[0]), _nan(v[1])) for k, v in values.items()}
