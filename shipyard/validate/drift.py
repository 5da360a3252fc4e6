"""Drift between two statistics of a column: a reference (training data) and a current one.

Every function takes two :class:`~shipyard.validate.ColumnStatistics` of the
same column and works on their sketches alone, so a serving window can be
compared with the training statistics without the training rows. Numeric and
datetime columns are compared through their KLL sketches, categorical and
boolean ones through their frequent values plus an "other" bucket for the
rest. Results are ``nan`` when either side has no values.

Conventional thresholds (module constants, used by :func:`compare`):

- PSI: below 0.1 no shift, 0.1-0.2 moderate, above ``PSI_THRESHOLD = 0.2`` significant.
- Kolmogorov-Smirnov distance: above ``KS_THRESHOLD = 0.1``.
- Jensen-Shannon: distance ``sqrt(divergence)`` above ``JS_THRESHOLD = 0.1``.
- Chi-squared: p-value below ``P_VALUE_THRESHOLD = 0.05``; with millions of
  rows any difference is significant, so read it together with PSI.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ._column import ColumnStatistics
from .stats import DatasetStatistics

__all__ = [
    "JS_THRESHOLD",
    "KS_THRESHOLD",
    "PSI_THRESHOLD",
    "P_VALUE_THRESHOLD",
    "ChiSquared",
    "chi_squared",
    "chi_squared_sf",
    "compare",
    "js_divergence",
    "ks",
    "new_category_rate",
    "psi",
]

PSI_THRESHOLD = 0.2
KS_THRESHOLD = 0.1
JS_THRESHOLD = 0.1
P_VALUE_THRESHOLD = 0.05
_PSI_FLOOR = 1e-4  # proportion given to an empty bin, so that its log stays finite

F64 = npt.NDArray[np.float64]


class ChiSquared(NamedTuple):
    """Result of :func:`chi_squared`."""

    statistic: float
    p_value: float


def _valid(col: ColumnStatistics) -> int:
    return col.count - col.nulls - col.infinite


def _numeric_pair(ref: ColumnStatistics, cur: ColumnStatistics, what: str) -> None:
    for col in (ref, cur):
        if col.kind not in ("numeric", "datetime"):
            raise TypeError(
                f"{what} compares numeric or datetime columns; {col.name!r} is {col.kind}"
            )


def _categorical_pair(ref: ColumnStatistics, cur: ColumnStatistics, what: str) -> None:
    for col in (ref, cur):
        if col.kind not in ("categorical", "boolean"):
            raise TypeError(
                f"{what} compares categorical or boolean columns; {col.name!r} is {col.kind}"
            )


def _category_counts(ref: ColumnStatistics, cur: ColumnStatistics) -> tuple[F64, F64]:
    """Counts over the union of both sides' frequent values, then one "other" bucket."""
    r = dict(ref.top(1 << 30))
    c = dict(cur.top(1 << 30))
    keys = sorted(r.keys() | c.keys())  # a fixed order: the same sums on every run
    rc = np.array([r.get(k, 0) for k in keys] + [0], dtype=np.float64)
    cc = np.array([c.get(k, 0) for k in keys] + [0], dtype=np.float64)
    # Values the summaries no longer list (past 1024 distinct values) go to "other".
    rc[-1] = _valid(ref) - rc[:-1].sum()
    cc[-1] = _valid(cur) - cc[:-1].sum()
    return rc, cc


def _distributions(
    ref: ColumnStatistics, cur: ColumnStatistics, bins: int, what: str
) -> tuple[F64, F64]:
    """Proportions of both sides over shared bins (both sides must have values)."""
    if ref.kind in ("numeric", "datetime"):
        _numeric_pair(ref, cur, what)
        ranks = np.linspace(0.0, 1.0, bins + 1)[1:-1]
        edges = np.unique(np.asarray(ref.quantiles(ranks.tolist())))
        # Bins (-inf, e1], (e1, e2], ..., (e_last, inf): inclusive CDFs at the edges.
        r = np.diff(np.concatenate(([0.0], ref.cdf(edges.tolist()), [1.0])))
        c = np.diff(np.concatenate(([0.0], cur.cdf(edges.tolist()), [1.0])))
        return r, c
    _categorical_pair(ref, cur, what)
    rc, cc = _category_counts(ref, cur)
    return rc / rc.sum(), cc / cc.sum()


def _empty(ref: ColumnStatistics, cur: ColumnStatistics) -> bool:
    return _valid(ref) == 0 or _valid(cur) == 0


def psi(ref: ColumnStatistics, cur: ColumnStatistics, bins: int = 10) -> float:
    """Population stability index of ``cur`` against ``ref``.

    ``sum((c - r) * ln(c / r))`` over bins; numeric and datetime columns use
    ``bins`` quantile bins of the reference (fewer when quantiles repeat),
    categorical and boolean ones their categories plus "other". Empty bins
    count as a proportion of 1e-4.

    Returns
    -------
    float
        0 for identical distributions; below 0.1 is stable, 0.1-0.2 a moderate
        shift, above 0.2 (``PSI_THRESHOLD``) a significant one. ``nan`` if a
        side has no values.
    """
    if _empty(ref, cur):
        return math.nan
    r, c = _distributions(ref, cur, bins, "psi()")
    r, c = np.maximum(r, _PSI_FLOOR), np.maximum(c, _PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def ks(ref: ColumnStatistics, cur: ColumnStatistics) -> float:
    """Kolmogorov-Smirnov distance: the largest gap between the two CDFs.

    Both sketches' CDFs are step functions that move only at their retained
    items, so evaluating them at the union of those items gives the exact
    largest gap between the sketched CDFs; it is within
    ``ref.quantile_error + cur.quantile_error`` of the gap between the data.

    Returns
    -------
    float
        In [0, 1]; above 0.1 (``KS_THRESHOLD``) is conventionally drift. No
        p-value: at these sample sizes the sketch error, not sampling, bounds
        what can be told apart. ``nan`` if a side has no values.

    Raises
    ------
    TypeError
        Unless both columns are numeric or datetime.
    """
    _numeric_pair(ref, cur, "ks()")
    if _empty(ref, cur):
        return math.nan
    assert ref._kll is not None and cur._kll is not None
    ref._flush()
    cur._flush()
    points = np.union1d(ref._kll.items(), cur._kll.items())
    gap = np.abs(ref._kll.rank(points) - cur._kll.rank(points))
    return float(gap.max())


def js_divergence(ref: ColumnStatistics, cur: ColumnStatistics, bins: int = 10) -> float:
    """Jensen-Shannon divergence, in bits, over the same bins as :func:`psi`.

    Returns
    -------
    float
        In [0, 1] and symmetric; 0 for identical distributions. Its square root
        is the Jensen-Shannon distance, conventionally drift above 0.1
        (``JS_THRESHOLD``). ``nan`` if a side has no values.
    """
    if _empty(ref, cur):
        return math.nan
    r, c = _distributions(ref, cur, bins, "js_divergence()")
    m = 0.5 * (r + c)

    def kl(p: F64) -> float:
        nz = p > 0
        return float(np.sum(p[nz] * np.log2(p[nz] / m[nz])))

    return min(max(0.5 * kl(r) + 0.5 * kl(c), 0.0), 1.0)


def chi_squared(ref: ColumnStatistics, cur: ColumnStatistics) -> ChiSquared:
    """Chi-squared test that both samples come from one categorical distribution.

    The 2 x k contingency table of counts per category (the frequent values
    of both sides, plus "other"); categories empty on both sides are left out,
    and the degrees of freedom are ``k - 1``.

    Returns
    -------
    ChiSquared
        ``(statistic, p_value)``; a p-value below 0.05 (``P_VALUE_THRESHOLD``)
        rejects "same distribution". Both ``nan`` if a side has no values.

    Raises
    ------
    TypeError
        Unless both columns are categorical or boolean.
    """
    _categorical_pair(ref, cur, "chi_squared()")
    if _empty(ref, cur):
        return ChiSquared(math.nan, math.nan)
    rc, cc = _category_counts(ref, cur)
    keep = (rc + cc) > 0
    rc, cc = rc[keep], cc[keep]
    if rc.size < 2:
        return ChiSquared(0.0, 1.0)
    total = rc.sum() + cc.sum()
    per_category = rc + cc
    statistic = 0.0
    for observed, side_total in ((rc, rc.sum()), (cc, cc.sum())):
        expected = per_category * side_total / total
        statistic += float(np.sum((observed - expected) ** 2 / expected))
    return ChiSquared(statistic, chi_squared_sf(statistic, rc.size - 1))


def new_category_rate(ref: ColumnStatistics, cur: ColumnStatistics) -> float:
    """Fraction of ``cur``'s non-null values whose category ``ref`` never saw.

    Exact while both columns have at most 1024 distinct values. Past that the
    reference's summary misses rare categories (the rate can come out too
    high) and the current one's misses rare values (too low).

    Returns
    -------
    float
        In [0, 1]; ``nan`` if ``cur`` has no values.

    Raises
    ------
    TypeError
        Unless both columns are categorical or boolean.
    """
    _categorical_pair(ref, cur, "new_category_rate()")
    valid = _valid(cur)
    if valid == 0:
        return math.nan
    known = {v for v, _ in ref.top(1 << 30)}
    new = sum(c for v, c in cur.top(1 << 30) if v not in known)
    return new / valid


def chi_squared_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for a chi-squared variable with ``dof`` degrees of freedom.

    The regularized upper incomplete gamma function ``Q(dof/2, statistic/2)``,
    by its series below ``a + 1`` and Lentz's continued fraction above
    (Numerical Recipes, 6.2), with ``math.lgamma``; no SciPy.
    """
    if dof < 1:
        raise ValueError(f"chi-squared needs dof >= 1; got {dof}")
    if statistic <= 0.0:
        return 1.0
    if math.isinf(statistic):
        return 0.0
    a, x = dof / 2.0, statistic / 2.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(100_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return min(1.0, math.exp(log_prefix) * h)


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else x


def compare(ref: DatasetStatistics, cur: DatasetStatistics) -> list[dict[str, Any]]:
    """Drift metrics for every column of ``ref``, then the columns only ``cur`` has.

    Returns
    -------
    list of dict
        One JSON-able row per column: ``column``, ``kind``, ``null_fraction_ref``,
        ``null_fraction_cur``, then for numeric and datetime columns ``psi``,
        ``ks``, ``js_divergence``; for categorical and boolean ones ``psi``,
        ``js_divergence``, ``chi_squared``, ``p_value``, ``new_category_rate``;
        and ``drifted`` (PSI above ``PSI_THRESHOLD``). A metric that cannot be
        computed (no values on a side) is ``None``. A column missing from
        ``cur`` has ``"missing": True``, one only in ``cur`` ``"new": True``,
        and one whose kind changed ``"kind_cur"`` and no metrics.
    """
    rows: list[dict[str, Any]] = []
    for name, r in ref.columns.items():
        row: dict[str, Any] = {"column": name, "kind": r.kind}
        rows.append(row)
        c = cur.columns.get(name)
        if c is None:
            row["missing"] = True
            continue
        row["null_fraction_ref"] = r.nulls / r.count if r.count else None
        row["null_fraction_cur"] = c.nulls / c.count if c.count else None
        if c.kind != r.kind:
            row["kind_cur"] = c.kind
            continue
        metrics: dict[str, float] = {}
        if r.kind in ("numeric", "datetime"):
            metrics = {"psi": psi(r, c), "ks": ks(r, c), "js_divergence": js_divergence(r, c)}
        elif r.kind in ("categorical", "boolean"):
            test = chi_squared(r, c)
            metrics = {
                "psi": psi(r, c),
                "js_divergence": js_divergence(r, c),
                "chi_squared": test.statistic,
                "p_value": test.p_value,
                "new_category_rate": new_category_rate(r, c),
            }
        row.update({k: _none_if_nan(v) for k, v in metrics.items()})
        if "psi" in metrics:
            row["drifted"] = bool(metrics["psi"] > PSI_THRESHOLD)
    for name, c in cur.columns.items():
        if name not in ref.columns:
            rows.append({"column": name, "kind": c.kind, "new": True})
    return rows
