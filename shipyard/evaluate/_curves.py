"""The data behind the report's plots, small enough to keep in the Evaluation artifact.

Curves are thinned to a few hundred points and scatter plots to a sample of
rows, so that a report can be drawn again from the artifact alone, without
the eval rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._engine import ECE_BINS
from ._inputs import F64, Task

MAX_POINTS = 300
"""Points kept per curve."""
MAX_SCATTER = 2000
"""Rows kept for a scatter plot."""


def curves(
    task: Task,
    y: F64,
    s: F64,
    w: F64 | None,
    *,
    threshold: float = 0.5,
    labels: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Return the plot data of one model's predictions (checked arrays) as plain lists."""
    weight = np.ones(len(y)) if w is None else w
    if task == "binary":
        return _binary(y, s, weight, threshold)
    if task == "multiclass":
        k = s.shape[1]
        names = [str(c) for c in (labels if labels is not None else range(k))]
        matrix = np.zeros((k, k))
        np.add.at(matrix, (y.astype(np.intp), np.argmax(s, axis=1)), weight)
        return {"confusion": matrix.tolist(), "labels": names}
    rng = np.random.default_rng(seed)
    keep = np.arange(len(y))
    if len(y) > MAX_SCATTER:
        keep = np.sort(rng.choice(len(y), MAX_SCATTER, replace=False))
    return {"actual": y[keep].tolist(), "predicted": s[keep].tolist(), "rows": len(y)}


def _binary(y: F64, p: F64, w: F64, threshold: float) -> dict[str, Any]:
    order = np.argsort(-p, kind="stable")
    ranked = p[order]
    ends = np.append(np.flatnonzero(ranked[1:] != ranked[:-1]), len(p) - 1)
    tp = np.cumsum(w[order] * y[order])[ends]
    fp = np.cumsum(w[order])[ends] - tp
    pos, neg = tp[-1], fp[-1]
    fpr = np.concatenate([[0.0], fp / neg]) if neg > 0 else np.zeros(len(tp) + 1)
    tpr = np.concatenate([[0.0], tp / pos]) if pos > 0 else np.zeros(len(tp) + 1)
    recall = tp / pos if pos > 0 else np.zeros(len(tp))
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).tiny)
    keep = _thin(len(fpr))
    keep_pr = _thin(len(recall))
    bins = np.minimum((p * ECE_BINS).astype(np.intp), ECE_BINS - 1)
    rows = np.bincount(bins, weights=w, minlength=ECE_BINS)
    scores = np.bincount(bins, weights=w * p, minlength=ECE_BINS)
    positives = np.bincount(bins, weights=w * y, minlength=ECE_BINS)
    filled = rows > 0
    label = p >= threshold
    cells = [[~label & (y == 0), label & (y == 0)], [~label & (y == 1), label & (y == 1)]]
    return {
        "roc": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()},
        "pr": {
            "recall": [0.0, *recall[keep_pr].tolist()],
            "precision": [1.0, *precision[keep_pr].tolist()],
            "base_rate": float(pos / (pos + neg)),
        },
        "calibration": {
            "mean_score": (scores[filled] / rows[filled]).tolist(),
            "positive_rate": (positives[filled] / rows[filled]).tolist(),
            "rows": rows[filled].tolist(),
        },
        "confusion": [[float(w[c].sum()) for c in row] for row in cells],
        "threshold": float(threshold),
    }


def _thin(n: int) -> npt.NDArray[np.intp]:
    """Indices of at most MAX_POINTS points spread over n, the first and last included."""
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(np.intp))
