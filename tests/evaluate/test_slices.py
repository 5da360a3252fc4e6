"""Tests of shipyard/evaluate/_slices.py: metrics per value and per quantile bin."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shipyard.evaluate import compute_metrics, evaluate_slices
from shipyard.evaluate._slices import MISSING, OTHER


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 2, n)
    return {
        "y": y,
        "p": np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1),
        "city": rng.choice(["Paris", "Lyon", "Nice"], n, p=[0.6, 0.3, 0.1]),
        "age": rng.normal(40, 12, n),
        "code": np.array([f"C{i}" for i in rng.integers(0, 100, n)]),
    }


def by_value(rows: list[dict[str, Any]], column: str) -> dict[str, dict[str, Any]]:
    return {r["value"]: r for r in rows if r["column"] == column}


def test_categorical_slices_match_metrics_on_the_subset(data: dict[str, np.ndarray]) -> None:
    rows = evaluate_slices("binary", data["y"], data["p"], {"city": data["city"]})
    assert [r["value"] for r in rows] == ["Paris", "Lyon", "Nice"]  # most rows first
    for r in rows:
        inside = data["city"] == r["value"]
        assert r["rows"] == inside.sum()
        assert r["share"] == pytest.approx(inside.mean())
        expected = compute_metrics("binary", data["y"][inside], data["p"][inside])
        assert r["metrics"] == pytest.approx(expected, abs=1e-12)
        assert r["kind"] == "value" and r["note"] == ""


def test_numeric_columns_get_quantile_bins(data: dict[str, np.ndarray]) -> None:
    age = data["age"].copy()
    age[:40] = np.nan
    rows = evaluate_slices(
        "binary", data["y"], data["p"], {"age": age}, metrics=["roc_auc"], bins=4
    )
    bins = [r for r in rows if r["kind"] == "bin"]
    assert len(bins) == 4
    assert all(abs(r["rows"] - (3000 - 40) / 4) <= 1 for r in bins)
    assert bins[0]["value"].startswith("[") and bins[-1]["value"].endswith("]")
    missing = by_value(rows, "age")[MISSING]
    assert missing["rows"] == 40
    # The first bin holds exactly the rows below its upper edge.
    edge = np.nanquantile(age, 0.25)
    inside = age < edge
    expected = compute_metrics("binary", data["y"][inside], data["p"][inside], metrics=["roc_auc"])
    assert bins[0]["metrics"]["roc_auc"] == pytest.approx(expected["roc_auc"])


def test_high_cardinality_keeps_the_top_values_and_groups_the_rest(
    data: dict[str, np.ndarray],
) -> None:
    rows = evaluate_slices("binary", data["y"], data["p"], {"code": data["code"]}, max_values=5)
    values = [r["value"] for r in rows]
    assert len(values) == 6 and OTHER in values
    assert sum(r["rows"] for r in rows) == 3000
    top = [r["rows"] for r in rows if r["value"] != OTHER]
    assert top == sorted(top, reverse=True)


def test_small_slices_get_a_count_and_no_metrics(data: dict[str, np.ndarray]) -> None:
    rows = evaluate_slices("binary", data["y"], data["p"], {"city": data["city"]}, min_rows=400)
    nice = by_value(rows, "city")["Nice"]
    assert nice["metrics"] == {} and nice["note"] == "fewer than 400 rows"
    assert by_value(rows, "city")["Paris"]["metrics"]


def test_objects_with_nulls_booleans_and_integers() -> None:
    rng = np.random.default_rng(1)
    n = 400
    y = rng.normal(size=n)
    pred = y + rng.normal(size=n)
    choices: list[object] = ["a", "b", None, 3]
    objects = np.array([choices[i] for i in rng.integers(0, 4, n)], dtype=object)
    flags = rng.random(n) < 0.5
    small_ints = rng.integers(0, 3, n)
    rows = evaluate_slices(
        "regression", y, pred, {"o": objects, "flag": flags, "n": small_ints}, min_rows=1
    )
    assert set(by_value(rows, "o")) == {"a", "b", "3", MISSING}
    assert set(by_value(rows, "flag")) == {"true", "false"}
    assert set(by_value(rows, "n")) == {"0", "1", "2"}  # few distinct integers: values, not bins


def test_datetimes_are_binned_with_readable_edges() -> None:
    rng = np.random.default_rng(2)
    n = 300
    when = np.datetime64("2024-01-01") + rng.integers(0, 365 * 86400, n).astype("timedelta64[s]")
    rows = evaluate_slices("regression", rng.normal(size=n), rng.normal(size=n), {"when": when})
    assert rows[0]["value"].startswith("[2024-")
    assert sum(r["rows"] for r in rows) == n


def test_multiclass_slices_and_sample_weight() -> None:
    rng = np.random.default_rng(3)
    n = 600
    y = rng.integers(0, 3, n)
    p = rng.dirichlet(np.ones(3), n)
    group = rng.choice(["x", "y"], n)
    w = rng.random(n)
    rows = evaluate_slices("multiclass", y, p, {"g": group}, sample_weight=w)
    inside = group == "x"
    expected = compute_metrics("multiclass", y[inside], p[inside], sample_weight=w[inside])
    assert by_value(rows, "g")["x"]["metrics"] == pytest.approx(expected, abs=1e-12)


def test_a_column_of_the_wrong_length_is_named() -> None:
    with pytest.raises(ValueError, match="slice column 'c' must have one value per row"):
        evaluate_slices("binary", [0, 1], [0.1, 0.9], {"c": np.array([1, 2, 3])})
