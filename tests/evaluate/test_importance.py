"""Tests of shipyard/evaluate/importance.py: permutation and gain importances."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from shipyard.evaluate import gain_importance, permutation_importance


def informative(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three features; only the first decides the label."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


def test_the_informative_feature_ranks_first() -> None:
    X, y = informative()
    model = LogisticRegression().fit(X, y)
    result = permutation_importance(
        lambda rows: model.predict_proba(rows)[:, 1],
        X,
        y,
        "binary",
        feature_names=["signal", "noise1", "noise2"],
    )
    assert list(result)[0] == "signal"
    mean, std = result["signal"]
    assert mean > 0.2 and std >= 0
    assert abs(result["noise1"][0]) < 0.02 and abs(result["noise2"][0]) < 0.02


def test_one_prediction_call_per_feature_and_rows_are_capped() -> None:
    X, y = informative(5000)
    calls: list[int] = []

    def predict(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return np.asarray(1 / (1 + np.exp(-3 * rows[:, 0])))

    result = permutation_importance(predict, X, y, "binary", "log_loss", n_repeats=4, max_rows=1000)
    assert calls == [1000] + [4000] * 3  # the baseline, then a stacked call per feature
    assert list(result)[0] == "x0"
    assert result["x0"][0] > 0  # shuffling raises the loss: positive means needed
    assert result["x1"] == pytest.approx((0.0, 0.0), abs=1e-12)  # predict ignores x1


def test_the_column_is_restored_and_the_result_is_reproducible() -> None:
    X, y = informative(500)
    original = X.copy()

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-rows[:, 0])))

    first = permutation_importance(predict, X, y, "binary", seed=3)
    assert np.array_equal(X, original)
    assert first == permutation_importance(predict, X, y, "binary", seed=3)


def test_regression_and_object_columns() -> None:
    rng = np.random.default_rng(1)
    X = np.empty((800, 2), dtype=object)
    X[:, 0] = rng.choice(["low", "high"], 800)
    X[:, 1] = rng.normal(size=800)
    y = np.where(X[:, 0] == "high", 10.0, 0.0) + rng.normal(size=800)

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.where(rows[:, 0] == "high", 10.0, 0.0)

    result = permutation_importance(predict, X, y, "regression", feature_names=["level", "x"])
    assert list(result) == ["level", "x"]
    assert result["level"][0] > 1  # RMSE rises by several units


def test_bad_arguments() -> None:
    X, y = informative(100)
    with pytest.raises(ValueError, match="X must be 2-D"):
        permutation_importance(lambda r: r, X[:, 0], y, "binary")
    with pytest.raises(ValueError, match="feature_names has 2 names for 3 columns"):
        permutation_importance(lambda r: r, X, y, "binary", feature_names=["a", "b"])
    with pytest.raises(ValueError, match=r"predict\(X\) must have shape"):
        permutation_importance(lambda r: r, X, y, "binary")


def test_gain_importance_of_sklearn_lightgbm_and_xgboost() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 3))
    y = 3 * X[:, 1] + 0.1 * rng.normal(size=600)
    models: list[Any] = [RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)]
    lightgbm = pytest.importorskip("lightgbm")
    xgboost = pytest.importorskip("xgboost")
    models.append(lightgbm.LGBMRegressor(n_estimators=20, verbose=-1).fit(X, y))
    models.append(xgboost.XGBRegressor(n_estimators=20).fit(X, y))
    for model in models:
        shares = gain_importance(model, feature_names=["a", "b", "c"])
        assert list(shares)[0] == "b", type(model).__name__
        assert sum(shares.values()) == pytest.approx(1.0)
    booster = models[-1].get_booster()
    assert set(gain_importance(booster)) == {"f0", "f1", "f2"}
    with pytest.raises(TypeError, match="use permutation_importance"):
        gain_importance(LogisticRegression())
