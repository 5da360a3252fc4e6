"""Feature importances: the model's own (gain) and by permutation on eval rows.

- :func:`gain_importance` reads what a tree model recorded while training:
  total split gain per feature (XGBoost, LightGBM), or impurity decrease
  (scikit-learn trees and forests), as shares that sum to 1. Cheap, but it
  says what the model *used*, which overrates features with many split points.
- :func:`permutation_importance` measures how much a metric worsens on eval
  rows when one feature's values are shuffled: what the model *needs*, for
  any model, at the price of one prediction call per feature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._engine import Scorer
from ._inputs import check_inputs, check_task
from .metrics import check_metrics, higher_is_better

__all__ = ["gain_importance", "permutation_importance"]

F64 = npt.NDArray[np.float64]


def permutation_importance(
    predict: Callable[[npt.NDArray[Any]], npt.ArrayLike],
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    task: str,
    metric: str | None = None,
    *,
    n_repeats: int = 3,
    seed: int = 0,
    max_rows: int = 20_000,
    feature_names: Sequence[str] | None = None,
    threshold: float = 0.5,
    sample_weight: npt.ArrayLike | None = None,
) -> dict[str, tuple[float, float]]:
    """Return how much ``metric`` worsens when each feature is shuffled.

    For each feature, its column is shuffled ``n_repeats`` times (a different
    permutation each), the ``n_repeats`` copies of the rows are stacked and
    predicted in one call, and the metric of every copy is computed at once.

    Parameters
    ----------
    predict
        Rows (a 2-D array like ``X``) -> ``y_score`` for ``task`` (binary:
        P(class 1); multiclass: probabilities (n, k); regression: predictions).
    X
        Eval rows, shape (n, features); any dtype (object columns are fine).
    y
        Truth, as ``y_true`` of :func:`~shipyard.evaluate.metrics.compute_metrics`.
    task
        The learning task.
    metric
        The metric; None: the task's primary metric.
    n_repeats
        Shuffles per feature.
    seed
        Seed of the row sample and of the shuffles.
    max_rows
        Rows used at most: a larger ``X`` is sampled (without replacement).
    feature_names
        A name per column; None: ``x0``, ``x1``, ...
    threshold, sample_weight
        As for :func:`~shipyard.evaluate.metrics.compute_metrics`.

    Returns
    -------
    dict
        Feature -> (mean, std) over the repeats of the loss of quality, signed so
        that positive means the model needs the feature (for a loss metric: the
        shuffled loss minus the loss). Most important first.

    Raises
    ------
    ValueError
        For ``X`` that is not 2-D or does not match ``y`` or ``feature_names``,
        for ``n_repeats`` or ``max_rows`` below 1, and for predictions of the
        wrong shape.
    """
    checked = check_task(task)
    (name,) = check_metrics(checked, [metric] if metric else None, field="metric")[:1]
    rows = np.asarray(X)
    if rows.ndim != 2:
        raise ValueError(f"X must be 2-D (rows, features); got shape {rows.shape}")
    if n_repeats < 1 or max_rows < 1:
        raise ValueError(f"n_repeats and max_rows must be >= 1; got {n_repeats}, {max_rows}")
    names = (
        [f"x{j}" for j in range(rows.shape[1])] if feature_names is None else list(feature_names)
    )
    if len(names) != rows.shape[1]:
        raise ValueError(f"feature_names has {len(names)} names for {rows.shape[1]} columns of X")
    truth = np.asarray(y)
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if len(truth) != len(rows):
        raise ValueError(f"X has {len(rows)} rows and y has {len(truth)}; expected equal")
    rng = np.random.default_rng(seed)
    if len(rows) > max_rows:
        keep = np.sort(rng.choice(len(rows), max_rows, replace=False))
        rows, truth = rows[keep], truth[keep]
        weight = None if weight is None else weight[keep]
    m = len(rows)
    sign = 1.0 if higher_is_better(name, checked) else -1.0

    def score(batch: npt.NDArray[Any], repeats: int) -> F64:
        y_all, s_all, w_all = check_inputs(
            checked,
            np.tile(truth, repeats),
            predict(batch),
            None if weight is None else np.tile(weight, repeats),
            score_name="predict(X)",
        )
        # One weight row per repeat, selecting its own block of rows.
        blocks: F64 = np.kron(np.eye(repeats), np.ones(m)).astype(np.float64)
        if w_all is not None:
            blocks *= w_all
        scorer = Scorer(checked, y_all, s_all, [name], threshold=threshold)
        return scorer(blocks)[name]

    baseline = score(rows, 1)[0]
    stacked = np.tile(rows, (n_repeats, 1))
    result: dict[str, tuple[float, float]] = {}
    for j, feature in enumerate(names):
        for r in range(n_repeats):
            stacked[r * m : (r + 1) * m, j] = rows[rng.permutation(m), j]
        drops = sign * (baseline - score(stacked, n_repeats))
        stacked[:, j] = np.tile(rows[:, j], n_repeats)
        result[feature] = (float(drops.mean()), float(drops.std()))
    return dict(sorted(result.items(), key=lambda item: -item[1][0]))


def gain_importance(model: Any, feature_names: Sequence[str] | None = None) -> dict[str, float]:
    """Return a tree model's own importance per feature, as shares that sum to 1.

    XGBoost (``XGBModel`` or ``Booster``): total gain. LightGBM (``LGBMModel``
    or ``Booster``): total gain. scikit-learn (anything with
    ``feature_importances_``): impurity decrease. Frameworks are not imported:
    the model is only asked for these attributes.

    Parameters
    ----------
    model
        A trained model.
    feature_names
        A name per feature; None: the model's own names, else ``x0``, ``x1``, ...

    Returns
    -------
    dict
        Feature -> share of the total, most important first (all 0 when the
        model never split).

    Raises
    ------
    TypeError
        For a model that records no importances (use :func:`permutation_importance`).
    ValueError
        When ``feature_names`` does not match the model's number of features.
    """
    names, values = _raw_gain(model)
    if feature_names is not None:
        if len(feature_names) != len(values):
            raise ValueError(
                f"feature_names has {len(feature_names)} names; the model has {len(values)} features"
            )
        names = list(feature_names)
    gains = np.clip(np.asarray(values, dtype=np.float64), 0, None)
    total = gains.sum()
    shares = gains / total if total > 0 else gains
    ranked = sorted(zip(names, shares.tolist(), strict=True), key=lambda item: -item[1])
    return dict(ranked)


def _raw_gain(model: Any) -> tuple[list[str], list[float]]:
    if hasattr(model, "get_booster"):  # xgboost's scikit-learn API
        model = model.get_booster()
    if hasattr(model, "get_score") and hasattr(model, "num_features"):  # xgboost Booster
        scores = model.get_score(importance_type="total_gain")
        names = model.feature_names or [f"f{j}" for j in range(model.num_features())]
        return list(names), [float(scores.get(n, 0.0)) for n in names]
    if hasattr(model, "booster_"):  # lightgbm's scikit-learn API
        model = model.booster_
    if hasattr(model, "feature_importance") and hasattr(model, "feature_name"):  # lightgbm
        gains = model.feature_importance(importance_type="gain")
        return list(model.feature_name()), [float(g) for g in gains]
    if hasattr(model, "feature_importances_"):  # scikit-learn trees and ensembles
        values = np.asarray(model.feature_importances_, dtype=np.float64)
        names = getattr(model, "feature_names_in_", None)
        names = [f"x{j}" for j in range(len(values))] if names is None else [str(n) for n in names]
        return names, values.tolist()
    raise TypeError(
        f"{type(model).__name__} records no gain importances (expected an XGBoost, LightGBM "
        "or scikit-learn tree model); use permutation_importance"
    )
