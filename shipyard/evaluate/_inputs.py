"""Checks of the arrays every evaluation function takes, with messages that name them."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = get_args(Task)

F64 = npt.NDArray[np.float64]


def check_task(task: str) -> Task:
    """Return ``task`` if it is one of :data:`TASKS`; raise ValueError naming them if not."""
    if task not in TASKS:
        raise ValueError(
            f"task must be one of {', '.join(repr(t) for t in TASKS)}; got {task!r}"
            + (" (resolve 'auto' from the data first)" if task == "auto" else "")
        )
    return next(t for t in TASKS if t == task)


def check_inputs(
    task: str,
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    sample_weight: npt.ArrayLike | None = None,
    *,
    score_name: str = "y_score",
) -> tuple[F64, F64, F64 | None]:
    """Return ``y_true``, ``y_score`` and ``sample_weight`` as float arrays, checked for ``task``.

    Binary: ``y_true`` 0/1, ``y_score`` probabilities, both (n,). Multiclass:
    ``y_true`` class indices (n,), ``y_score`` probabilities (n, k) with every
    index below k. Regression: two finite (n,) arrays.

    Raises
    ------
    ValueError
        Naming the argument, what it holds and what was expected.
    """
    task = check_task(task)
    y = _floats(y_true, "y_true")
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D; got shape {y.shape}")
    if len(y) == 0:
        raise ValueError("y_true is empty; expected at least one row")
    s = _floats(y_score, score_name)
    shape: tuple[int, ...] = s.shape
    k = shape[1] if len(shape) == 2 else 0
    expected = (len(y), k) if task == "multiclass" else (len(y),)
    if shape != expected or (task == "multiclass" and k < 2):
        want = "(n, k) with k >= 2" if task == "multiclass" else "(n,)"
        raise ValueError(
            f"{score_name} must have shape {want} with n = len(y_true) = {len(y)} "
            f"for task {task!r}; got shape {s.shape}"
        )
    _finite(y, "y_true")
    _finite(s, score_name)
    if task == "binary" and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"y_true must hold 0 and 1 for task 'binary'; got {_odd(y, (0, 1))}")
    if task == "multiclass" and not ((y >= 0) & (y < k) & (y == np.floor(y))).all():
        raise ValueError(
            f"y_true must hold class indices 0..{k - 1} (one per column of {score_name}) "
            f"for task 'multiclass'; got {_odd(y, range(k))}"
        )
    if task != "regression" and ((s < 0) | (s > 1)).any():
        bad = s[(s < 0) | (s > 1)].flat[0]
        raise ValueError(
            f"{score_name} must hold probabilities in [0, 1] for task {task!r}; got {bad:g}"
        )
    w = None
    if sample_weight is not None:
        w = _floats(sample_weight, "sample_weight")
        if w.shape != (len(y),):
            raise ValueError(f"sample_weight must have shape ({len(y)},); got shape {w.shape}")
        _finite(w, "sample_weight")
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("sample_weight must be >= 0 with a positive sum")
    return y, s, w


def _floats(values: npt.ArrayLike, name: str) -> F64:
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric; got an array of dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float64)


def _finite(values: F64, name: str) -> None:
    if not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite; got {values[~np.isfinite(values)].flat[0]}")


def _odd(y: F64, allowed: range | tuple[int, ...]) -> str:
    odd = np.unique(y[~np.isin(y, list(allowed))])
    return ", ".join(f"{v:g}" for v in odd[:5]) + (", ..." if len(odd) > 5 else "")
