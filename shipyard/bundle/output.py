"""The prediction output, one shape per task for batch prediction and every server protocol.

- ``binary``: ``probability`` (float64, P(the positive class)) and ``label``
  (the class: the positive one when ``probability >= threshold``).
- ``multiclass``: ``label`` (the most probable class) and ``probabilities``
  (one float64 per class, in the order of ``classes``).
- ``regression``: ``prediction`` (float64).

A probability or value that is NaN (a model fed only missing values can give
one) is written as null. Labels are the classes as the model was trained on them:
the integers ``0 .. k-1`` (the bundle's ``classes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["output_signature", "output_table"]


def output_signature(task: str, classes: Sequence[Any] | None) -> list[dict[str, Any]]:
    """The output columns of ``task``: name, Arrow type, shape per row and meaning."""
    if task == "binary":
        return [
            {
                "name": "probability",
                "type": "double",
                "shape": [],
                "description": "P(the positive class)",
            },
            {
                "name": "label",
                "type": "int64",
                "shape": [],
                "description": "the positive class when probability >= threshold",
            },
        ]
    if task == "multiclass":
        return [
            {
                "name": "label",
                "type": "int64",
                "shape": [],
                "description": "the most probable class",
            },
            {
                "name": "probabilities",
                "type": "list<double>",
                "shape": [len(classes or ())],
                "description": "one probability per class, in the order of classes",
            },
        ]
    return [{"name": "prediction", "type": "double", "shape": [], "description": "the value"}]


def _nullable(values: np.ndarray) -> pa.Array:
    values = np.asarray(values, dtype=np.float64)
    return pa.array(values, type=pa.float64(), mask=np.isnan(values))


def output_table(task: str, scores: np.ndarray, *, threshold: float | None) -> pa.Table:
    """The output columns for a model's raw scores (see the module docstring).

    ``scores`` follow the trainers' contract: P(class 1) of shape ``(n,)`` for
    ``binary``, probabilities ``(n, k)`` for ``multiclass``, values ``(n,)`` for
    ``regression``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if task == "binary":
        cut = 0.5 if threshold is None else float(threshold)
        missing = np.isnan(scores)
        labels = pa.array((scores >= cut).astype(np.int64), mask=missing)
        return pa.table({"probability": _nullable(scores), "label": labels})
    if task == "multiclass":
        n, k = scores.shape
        missing = np.isnan(scores).any(axis=1)
        best = np.argmax(np.where(np.isnan(scores), -1.0, scores), axis=1).astype(np.int64)
        offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
        probabilities = pa.ListArray.from_arrays(offsets, _nullable(scores.reshape(-1)))
        return pa.table({"label": pa.array(best, mask=missing), "probabilities": probabilities})
    return pa.table({"prediction": _nullable(scores.reshape(-1))})
