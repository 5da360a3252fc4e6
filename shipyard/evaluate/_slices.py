"""Metrics per slice: per value of a column, or per quantile bin of a numeric one."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._engine import Scorer
from ._inputs import check_inputs, check_task
from .metrics import check_metrics

__all__ = ["MISSING", "OTHER", "evaluate_slices"]

MISSING = "(missing)"
"""The slice of rows whose value is null or NaN."""
OTHER = "(other)"
"""The slice of the values of a high-cardinality column beyond the top ones."""

_CELLS = 4_000_000  # slices x rows scored at once


def evaluate_slices(
    task: str,
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    slices: Mapping[str, npt.ArrayLike],
    *,
    metrics: Sequence[str] | None = None,
    threshold: float = 0.5,
    sample_weight: npt.ArrayLike | None = None,
    min_rows: int = 30,
    max_values: int = 20,
    bins: int = 5,
) -> list[dict[str, Any]]:
    """Compute metrics per slice of the eval rows.

    A column of numbers with more than ``max_values`` distinct values (or of
    datetimes) is cut into ``bins`` quantile bins; any other column gives a
    slice per value, the ``max_values`` most frequent ones when there are more,
    with the rest in one :data:`OTHER` slice. Null and NaN make a
    :data:`MISSING` slice.

    Parameters
    ----------
    task, y_true, y_score, threshold, sample_weight
        As for :func:`~shipyard.evaluate.metrics.compute_metrics`.
    slices
        Column name -> one value per eval row.
    metrics
        Metric names; None: all of the task's.
    min_rows
        A slice with fewer rows gets no metrics (too noisy to read), only its count.
    max_values
        Slices per categorical column at most, besides :data:`OTHER` and :data:`MISSING`.
    bins
        Quantile bins of a numeric column (fewer when values repeat).

    Returns
    -------
    list of dict
        One per slice, columns in the given order, a column's slices by
        descending row count (by bin for numeric columns), then
        :data:`OTHER` and :data:`MISSING`. Each has
        ``column``, ``value`` (text: the category, or a bin such as
        ``"[0.5, 1.2)"``), ``kind`` (``"value"`` or ``"bin"``), ``rows``,
        ``share`` (of all rows), ``metrics`` (name -> value; empty below
        ``min_rows``) and ``note`` (why metrics are missing, else ``""``).

    Raises
    ------
    ValueError
        For bad inputs, or a slice column whose length is not the row count.
    """
    names = check_metrics(task, metrics, field="metrics")
    y, s, w = check_inputs(task, y_true, y_score, sample_weight)
    if min_rows < 1 or max_values < 1 or bins < 1:
        raise ValueError(
            f"min_rows, max_values and bins must be >= 1; got {min_rows}, {max_values}, {bins}"
        )
    scorer = Scorer(check_task(task), y, s, names, threshold=threshold)
    base = np.ones(len(y)) if w is None else w
    out: list[dict[str, Any]] = []
    for column, values in slices.items():
        array = np.asarray(values)
        if array.shape != (len(y),):
            raise ValueError(
                f"slice column {column!r} must have one value per row, shape ({len(y)},); "
                f"got shape {array.shape}"
            )
        codes, labels, kind = _group(array, max_values, bins)
        rows = np.bincount(codes, minlength=len(labels))
        order = np.argsort(-rows, kind="stable") if kind == "value" else np.arange(len(labels))
        # The catch-all slices come last, whatever their size.
        order = np.array(
            [g for g in order if labels[g] not in (OTHER, MISSING)]
            + [g for g in order if labels[g] in (OTHER, MISSING)],
            dtype=np.intp,
        )
        scored = [g for g in order if rows[g] >= min_rows]
        results = _score(scorer, base, codes, scored)
        for g in order:
            out.append(
                {
                    "column": str(column),
                    "value": labels[g],
                    "kind": kind if labels[g] not in (MISSING, OTHER) else "value",
                    "rows": int(rows[g]),
                    "share": float(rows[g] / len(y)),
                    "metrics": results.get(int(g), {}),
                    "note": "" if rows[g] >= min_rows else f"fewer than {min_rows} rows",
                }
            )
    return out


def _score(
    scorer: Scorer, base: npt.NDArray[np.float64], codes: npt.NDArray[np.intp], groups: list[Any]
) -> dict[int, dict[str, float]]:
    """Metrics of each group: one weight row per group (its rows 1, the others 0)."""
    results: dict[int, dict[str, float]] = {}
    block = max(1, _CELLS // len(codes))
    for start in range(0, len(groups), block):
        chunk = np.asarray(groups[start : start + block], dtype=np.intp)
        weights = (codes[None, :] == chunk[:, None]) * base
        values = scorer(weights)
        for i, g in enumerate(chunk):
            results[int(g)] = {name: float(v[i]) for name, v in values.items()}
    return results


def _group(
    values: npt.NDArray[Any], max_values: int, bins: int
) -> tuple[npt.NDArray[np.intp], list[str], str]:
    """Return a group code per row, the group labels, and ``"bin"`` or ``"value"``."""
    kind = values.dtype.kind
    if kind == "M" or (kind in "iuf" and len(np.unique(values[~_missing(values)])) > max_values):
        return _bins(values, bins)
    return _categories(values, max_values)


def _missing(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    if values.dtype.kind == "f":
        return np.asarray(np.isnan(values), dtype=np.bool_)
    if values.dtype.kind in "mM":
        return np.asarray(np.isnat(values), dtype=np.bool_)
    if values.dtype.kind == "O":
        return np.fromiter(
            (v is None or (isinstance(v, float) and math.isnan(v)) for v in values),
            dtype=bool,
            count=len(values),
        )
    return np.zeros(len(values), dtype=bool)


def _bins(values: npt.NDArray[Any], bins: int) -> tuple[npt.NDArray[np.intp], list[str], str]:
    missing = _missing(values)
    is_time = values.dtype.kind == "M"
    numbers = values.astype("datetime64[ns]").astype(np.int64) if is_time else values
    numbers = numbers.astype(np.float64)
    present = numbers[~missing]
    quantiles = np.linspace(0, 1, bins + 1)
    edges = np.unique(np.quantile(present, quantiles)) if len(present) else np.empty(0)
    # Right-open bins [a, b), the last one closed so that the maximum is in it.
    codes = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, max(len(edges) - 2, 0))
    if len(edges) < 2:
        labels = [_label(edges[0], is_time)] if len(edges) else []
    else:
        labels = [
            f"[{_label(a, is_time)}, {_label(b, is_time)}{']' if i == len(edges) - 2 else ')'}"
            for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))
        ]
    codes = codes.astype(np.intp)
    if missing.any():
        codes[missing] = len(labels)
        labels.append(MISSING)
    return codes, labels, "bin"


def _label(x: float, is_time: bool) -> str:
    if is_time:
        return str(np.datetime64(int(x), "ns").astype("datetime64[s]")).replace("T", " ")
    return f"{x:.4g}"


def _categories(
    values: npt.NDArray[Any], max_values: int
) -> tuple[npt.NDArray[np.intp], list[str], str]:
    missing = _missing(values)
    if values.dtype.kind == "O":
        # Mixed objects do not sort; their text does, and the text is the label.
        text = np.array(["" if m else str(v) for v, m in zip(values, missing, strict=True)])
    elif values.dtype.kind == "b":
        text = np.where(values, "true", "false")
    else:
        text = values.astype(str)
    uniques, codes, counts = np.unique(text[~missing], return_inverse=True, return_counts=True)
    top = np.argsort(-counts, kind="stable")[:max_values]
    remap = np.full(len(uniques), len(top), dtype=np.intp)
    remap[top] = np.arange(len(top))
    labels = [str(u) for u in uniques[top]]
    grouped = np.empty(len(values), dtype=np.intp)
    grouped[~missing] = remap[codes.ravel()]
    if len(uniques) > len(top):
        labels.append(OTHER)
    if missing.any():
        grouped[missing] = len(labels)
        labels.append(MISSING)
    return grouped, labels, "value"
