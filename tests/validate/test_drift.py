"""Drift metrics against exact computations on the raw data and known values."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest

from shipyard.validate import ColumnStatistics, DatasetStatistics, compute_statistics
from shipyard.validate.drift import (
    ChiSquared,
    chi_squared,
    chi_squared_sf,
    compare,
    js_divergence,
    ks,
    new_category_rate,
    psi,
)


def column(values: pa.Array | list[object] | np.ndarray) -> ColumnStatistics:
    return compute_statistics([pa.record_batch({"c": values})]).columns["c"]


def normal(n: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n) * scale + shift


def categories(n: int, seed: int, probs: list[float]) -> pa.Array:
    names = np.array(["a", "b", "c", "d"][: len(probs)])
    return pa.array(names[np.random.default_rng(seed).choice(len(probs), n, p=probs)])


def exact_ks(a: np.ndarray, b: np.ndarray) -> float:
    points = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), points, side="right") / a.size
    fb = np.searchsorted(np.sort(b), points, side="right") / b.size
    return float(np.abs(fa - fb).max())


# Numeric --------------------------------------------------------------------------------


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    ref = column(normal(100_000, 1))
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, column(normal(50_000, 2))) < 0.02
    assert psi(ref, column(normal(50_000, 3, shift=1.0))) > 0.2
    assert psi(ref, column(normal(50_000, 4, scale=2.0))) > 0.2


def test_psi_matches_a_direct_computation_on_exact_bins() -> None:
    # Few distinct values: the sketch is exact, so PSI equals the textbook formula.
    ref_values = np.repeat([1.0, 2.0, 3.0, 4.0], [40, 30, 20, 10])
    cur_values = np.repeat([1.0, 2.0, 3.0, 4.0], [25, 25, 25, 25])
    got = psi(column(ref_values), column(cur_values), bins=4)
    r = np.array([0.4, 0.3, 0.2, 0.1])
    c = np.full(4, 0.25)
    assert got == pytest.approx(float(np.sum((c - r) * np.log(c / r))))


@pytest.mark.parametrize(
    ("ref_spec", "cur_spec"),
    [((0.0, 1.0), (0.0, 1.0)), ((0.0, 1.0), (0.3, 1.0)), ((0.0, 1.0), (0.0, 1.5))],
)
def test_ks_against_the_exact_statistic(
    ref_spec: tuple[float, float], cur_spec: tuple[float, float]
) -> None:
    a = normal(120_000, 5, *ref_spec)
    b = normal(80_000, 6, *cur_spec)
    ref, cur = column(a), column(b)
    got = ks(ref, cur)
    assert abs(got - exact_ks(a, b)) <= ref.quantile_error + cur.quantile_error
    assert ks(ref, cur) == ks(ref, cur) and ks(ref, ref) == 0.0


def test_ks_is_exact_on_small_data() -> None:
    a = np.array([1.0, 2.0, 2.0, 5.0, 7.0])
    b = np.array([2.0, 3.0, 9.0])
    assert ks(column(a), column(b)) == pytest.approx(exact_ks(a, b))


def test_datetime_columns_compare_like_numbers() -> None:
    base = np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64)
    a = pa.array(base + np.arange(10_000) * 60, type=pa.timestamp("s"))
    b = pa.array(base + 86_400 * 30 + np.arange(10_000) * 60, type=pa.timestamp("s"))
    assert ks(column(a), column(b)) == 1.0 and psi(column(a), column(b)) > 0.2


def test_numeric_only_metrics_refuse_categories() -> None:
    with pytest.raises(TypeError, match="ks\\(\\) compares numeric or datetime"):
        ks(column(["a"]), column(["b"]))
    with pytest.raises(TypeError, match="chi_squared\\(\\) compares categorical"):
        chi_squared(column([1.0]), column([2.0]))
    with pytest.raises(TypeError, match="new_category_rate"):
        new_category_rate(column([1.0]), column([2.0]))


# Categorical ----------------------------------------------------------------------------


def test_js_divergence_is_symmetric_and_bounded() -> None:
    a = column(categories(20_000, 1, [0.5, 0.3, 0.2]))
    b = column(categories(20_000, 2, [0.2, 0.3, 0.5]))
    assert js_divergence(a, a) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence(a, b) == pytest.approx(js_divergence(b, a))
    assert 0.0 < js_divergence(a, b) < 1.0
    disjoint = js_divergence(column(["x"] * 50), column(["y"] * 50))
    assert disjoint == pytest.approx(1.0)
    x, y = column(normal(5000, 1)), column(normal(5000, 2, shift=3.0))
    assert js_divergence(x, y) == pytest.approx(js_divergence(y, x), abs=0.05)
    assert 0.0 <= js_divergence(x, y) <= 1.0


def test_chi_squared_matches_the_contingency_table_formula() -> None:
    ref = column(["a"] * 30 + ["b"] * 50 + ["c"] * 20)
    cur = column(["a"] * 20 + ["b"] * 40 + ["c"] * 30 + [None] * 7)
    table = np.array([[30, 50, 20], [20, 40, 30]], dtype=float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    result = chi_squared(ref, cur)
    assert isinstance(result, ChiSquared)
    assert result.statistic == pytest.approx(statistic)
    assert result.p_value == pytest.approx(chi_squared_sf(statistic, 2))
    stat, p = chi_squared(ref, ref)
    assert stat == pytest.approx(0.0) and p == pytest.approx(1.0)


def test_chi_squared_on_samples() -> None:
    same = chi_squared(
        column(categories(30_000, 1, [0.4, 0.3, 0.2, 0.1])),
        column(categories(30_000, 2, [0.4, 0.3, 0.2, 0.1])),
    )
    assert same.p_value > 0.001
    shifted = chi_squared(
        column(categories(30_000, 3, [0.4, 0.3, 0.2, 0.1])),
        column(categories(30_000, 4, [0.3, 0.3, 0.2, 0.2])),
    )
    assert shifted.p_value < 1e-10 and shifted.statistic > same.statistic


@pytest.mark.parametrize(
    ("statistic", "dof", "p"),
    [
        (3.841458820694124, 1, 0.05),
        (6.6348966010212145, 1, 0.01),
        (5.991464547107979, 2, 0.05),
        (7.814727903251178, 3, 0.05),
        (18.307038053275146, 10, 0.05),
        (124.34211340400407, 100, 0.05),
        (0.454936423119572, 1, 0.5),
        (1.0, 1, 0.31731050786291415),
        (30.0, 3, 1.3800570312932052e-06),
        (2.0, 4, 0.7357588823428847),
    ],
)
def test_chi_squared_p_values(statistic: float, dof: int, p: float) -> None:
    assert chi_squared_sf(statistic, dof) == pytest.approx(p, rel=1e-9)


def test_chi_squared_p_value_edges() -> None:
    assert chi_squared_sf(0.0, 3) == 1.0
    assert chi_squared_sf(math.inf, 3) == 0.0
    # dof = 2: the survival function is exp(-x / 2) exactly.
    for x in (0.1, 1.0, 7.0, 50.0, 700.0):
        assert chi_squared_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-12)
    with pytest.raises(ValueError, match="dof >= 1"):
        chi_squared_sf(1.0, 0)


def test_new_category_rate() -> None:
    ref = column(["a", "b", "b", None])
    cur = column(["a", "c", "c", "d", None, "b"])
    assert new_category_rate(ref, cur) == pytest.approx(3 / 5)
    assert new_category_rate(ref, ref) == 0.0
    assert math.isnan(new_category_rate(ref, column(pa.array([None, None], pa.string()))))


def test_booleans_compare_as_two_categories() -> None:
    ref = column(np.random.default_rng(1).random(10_000) < 0.5)
    cur = column(np.random.default_rng(2).random(10_000) < 0.8)
    assert psi(ref, cur) > 0.2 and chi_squared(ref, cur).p_value < 1e-10
    assert new_category_rate(ref, cur) == 0.0


def test_empty_sides_give_nan() -> None:
    empty = column(pa.array([None, None], pa.float64()))
    full = column([1.0, 2.0])
    assert math.isnan(psi(empty, full)) and math.isnan(ks(full, empty))
    assert math.isnan(js_divergence(full, empty))
    stat, p = chi_squared(column(["a"]), column(pa.array([None], pa.string())))
    assert math.isnan(stat) and math.isnan(p)


# compare ----------------------------------------------------------------------------------


def dataset(n: int, seed: int, shift: float) -> DatasetStatistics:
    rng = np.random.default_rng(seed)
    batch = pa.record_batch(
        {
            "x": rng.standard_normal(n) + shift,
            "y": rng.standard_normal(n),
            "cat": categories(n, seed, [0.5, 0.3, 0.2] if shift == 0 else [0.2, 0.3, 0.5]),
            "flag": rng.random(n) < 0.5,
            "gone": rng.standard_normal(n),
            "blob": pa.array([b"z"] * n),
        }
    )
    if shift:
        batch = batch.drop_columns(["gone"]).append_column("extra", pa.array([1] * n))
    return compute_statistics([batch])


def test_compare_rows() -> None:
    ref, cur = dataset(20_000, 1, 0.0), dataset(20_000, 2, 1.0)
    rows = {r["column"]: r for r in compare(ref, cur)}
    assert list(rows) == ["x", "y", "cat", "flag", "gone", "blob", "extra"]
    assert rows["x"]["drifted"] and rows["x"]["psi"] > 0.2 and rows["x"]["ks"] > 0.3
    assert not rows["y"]["drifted"] and rows["y"]["psi"] < 0.1
    assert set(rows["y"]) == {
        "column", "kind", "null_fraction_ref", "null_fraction_cur", "psi", "ks",
        "js_divergence", "drifted",
    }  # fmt: skip
    assert rows["cat"]["drifted"] and rows["cat"]["p_value"] < 1e-10
    assert rows["cat"]["new_category_rate"] == 0.0 and rows["cat"]["kind"] == "categorical"
    assert set(rows["flag"]) >= {"chi_squared", "p_value", "psi", "js_divergence"}
    assert rows["gone"] == {"column": "gone", "kind": "numeric", "missing": True}
    assert rows["extra"] == {"column": "extra", "kind": "numeric", "new": True}
    assert "psi" not in rows["blob"] and rows["blob"]["null_fraction_ref"] == 0.0
    json.dumps(list(rows.values()), allow_nan=False)


def test_compare_kind_change_and_empty_columns() -> None:
    ref = compute_statistics([pa.record_batch({"a": [1.0, 2.0], "b": [1.0, 2.0]})])
    cur = compute_statistics(
        [pa.record_batch({"a": ["x", "y"], "b": pa.array([None, None], pa.float64())})]
    )
    rows = {r["column"]: r for r in compare(ref, cur)}
    assert rows["a"]["kind_cur"] == "categorical" and "psi" not in rows["a"]
    assert rows["b"]["psi"] is None and rows["b"]["drifted"] is False
    assert rows["b"]["null_fraction_cur"] == 1.0
