"""Tests of shipyard/evaluate/metrics.py (and the engine behind it) against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from shipyard.errors import ConfigError
from shipyard.evaluate import check_metrics, compute_metrics, higher_is_better, metric_names
from shipyard.evaluate.metrics import default_metrics

# -- data --------------------------------------------------------------------------------------


def binary(n: int, seed: int, *, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)
    return y, (np.round(p, 1) if ties else p)  # rounding: many tied scores


def multiclass(n: int, k: int, seed: int, *, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * (np.arange(k) == y[:, None])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if ties:
        p = np.round(p, 1)
        p[:, -1] = 1 - p[:, :-1].sum(axis=1)
        p = np.clip(p, 0, 1)
        p /= p.sum(axis=1, keepdims=True)
    return y, p


def sklearn_binary(
    y: np.ndarray, p: np.ndarray, t: float, w: np.ndarray | None
) -> dict[str, float]:
    label = (p >= t).astype(int)
    return {
        "roc_auc": skm.roc_auc_score(y, p, sample_weight=w),
        "pr_auc": skm.average_precision_score(y, p, sample_weight=w),
        "log_loss": skm.log_loss(y, y_proba=p, sample_weight=w),
        "accuracy": skm.accuracy_score(y, label, sample_weight=w),
        "f1": skm.f1_score(y, label, sample_weight=w, zero_division=0),
        "precision": skm.precision_score(y, label, sample_weight=w, zero_division=0),
        "recall": skm.recall_score(y, label, sample_weight=w, zero_division=0),
        "brier": skm.brier_score_loss(y, p, sample_weight=w),
    }


def ece_loop(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    """Expected calibration error the slow, obvious way."""
    total = 0.0
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        inside = (p >= lo) & ((p < hi) if b < 9 else (p <= hi))
        if w[inside].sum() > 0:
            rate = np.average(y[inside], weights=w[inside])
            score = np.average(p[inside], weights=w[inside])
            total += w[inside].sum() / w.sum() * abs(rate - score)
    return total


# -- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_sklearn(ties: bool, weighted: bool, seed: int) -> None:
    y, p = binary(3000, seed, ties=ties)
    w = np.random.default_rng(seed + 10).random(len(y)) * 3 if weighted else None
    threshold = 0.4
    got = compute_metrics("binary", y, p, threshold=threshold, sample_weight=w)
    assert list(got) == metric_names("binary")
    for name, expected in sklearn_binary(y, p, threshold, w).items():
        assert got[name] == pytest.approx(expected, abs=1e-12), name
    assert got["ece"] == pytest.approx(
        ece_loop(y, p, np.ones(len(y)) if w is None else w), abs=1e-12
    )


def test_binary_all_scores_tied_gives_auc_one_half() -> None:
    y = np.array([0, 1, 0, 1, 1])
    got = compute_metrics("binary", y, np.full(5, 0.3), metrics=["roc_auc", "pr_auc"])
    assert got["roc_auc"] == 0.5
    assert got["pr_auc"] == pytest.approx(skm.average_precision_score(y, np.full(5, 0.3)))


def test_extreme_probabilities_give_a_finite_log_loss() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([1.0, 0.0, 1.0, 0.0])  # two confidently wrong
    got = compute_metrics("binary", y, p, metrics=["log_loss"])["log_loss"]
    assert math.isfinite(got)
    assert got == pytest.approx(skm.log_loss(y, y_proba=p))


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_metrics_match_sklearn(ties: bool, weighted: bool) -> None:
    y, p = multiclass(2500, 4, seed=3, ties=ties)
    w = np.random.default_rng(4).random(len(y)) if weighted else None
    got = compute_metrics("multiclass", y, p, sample_weight=w)
    label = p.argmax(axis=1)
    expected = {
        "accuracy": skm.accuracy_score(y, label, sample_weight=w),
        "log_loss": skm.log_loss(y, y_proba=p, sample_weight=w),
        "macro_f1": skm.f1_score(y, label, average="macro", sample_weight=w),
        "roc_auc_ovr": skm.roc_auc_score(y, p, multi_class="ovr", sample_weight=w),
    }
    assert list(got) == metric_names("multiclass")
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def test_macro_f1_leaves_out_classes_never_seen_like_sklearn() -> None:
    y = np.array([0, 0, 1, 1, 0])
    p = np.array(
        [[0.8, 0.1, 0.1]] * 3 + [[0.1, 0.8, 0.1]] * 2
    )  # class 2: never true, never predicted
    got = compute_metrics("multiclass", y, p, metrics=["macro_f1"])["macro_f1"]
    assert got == pytest.approx(skm.f1_score(y, p.argmax(axis=1), average="macro"))


@pytest.mark.parametrize("weighted", [False, True])
def test_regression_metrics_match_sklearn(weighted: bool) -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(1e6, 3, 2000)  # a large mean next to the spread: R² must not cancel
    pred = y + rng.normal(0, 1, 2000)
    w = rng.random(2000) if weighted else None
    got = compute_metrics("regression", y, pred, sample_weight=w)
    weights = np.ones(len(y)) if w is None else w
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred, sample_weight=w))
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred, sample_weight=w))
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred, sample_weight=w), abs=1e-9)
    wape = np.sum(weights * np.abs(y - pred)) / np.sum(weights * np.abs(y))
    assert got["wape"] == pytest.approx(wape)


def test_wape_is_finite_where_mape_is_not() -> None:
    y = np.array([0.0, 2.0, 4.0])
    got = compute_metrics("regression", y, np.array([1.0, 2.0, 3.0]), metrics=["wape"])
    assert got["wape"] == pytest.approx(2 / 6)


@pytest.mark.parametrize(("pred", "expected"), [([5.0, 5.0], 1.0), ([5.0, 6.0], 0.0)])
def test_r2_of_a_constant_truth_follows_sklearn(pred: list[float], expected: float) -> None:
    got = compute_metrics("regression", [5.0, 5.0], pred, metrics=["r2"])["r2"]
    assert got == expected == skm.r2_score([5.0, 5.0], pred)


def test_integer_weights_equal_repeated_rows() -> None:
    # This is what the bootstrap relies on: a count per row is the row drawn that often.
    y, p = binary(500, 7, ties=True)
    counts = np.random.default_rng(8).integers(0, 4, len(y))
    weighted = compute_metrics("binary", y, p, sample_weight=counts)
    repeated = compute_metrics("binary", np.repeat(y, counts), np.repeat(p, counts))
    for name in weighted:
        assert weighted[name] == pytest.approx(repeated[name], abs=1e-12), name


def test_auc_with_one_class_is_nan() -> None:
    got = compute_metrics("binary", [1, 1, 1], [0.2, 0.5, 0.9], metrics=["roc_auc", "accuracy"])
    assert math.isnan(got["roc_auc"])
    assert got["accuracy"] == pytest.approx(2 / 3)


# -- names and checks --------------------------------------------------------------------------


def test_metric_names_and_directions() -> None:
    assert metric_names("binary")[0] == "roc_auc"
    assert set(metric_names("regression")) == {"rmse", "mae", "r2", "wape"}
    assert default_metrics("multiclass") == metric_names("multiclass")
    assert higher_is_better("roc_auc") and higher_is_better("r2")
    assert not higher_is_better("log_loss") and not higher_is_better("rmse")
    with pytest.raises(KeyError):
        higher_is_better("nope")


def test_unknown_metric_names_the_field_and_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        check_metrics("binary", ["accuracy", "roc_acu"])
    assert info.value.field == "evaluate.metrics[1]"
    assert "did you mean 'roc_auc'?" in str(info.value)
    assert "pr_auc" in str(info.value)  # the valid names are listed


def test_metric_of_another_task_says_so() -> None:
    with pytest.raises(ConfigError, match="metric 'rmse' is for task 'regression', not 'binary'"):
        check_metrics("binary", ["rmse"])


def test_empty_metrics_mean_the_defaults_and_repeats_are_errors() -> None:
    assert check_metrics("regression", []) == metric_names("regression")
    with pytest.raises(ConfigError, match="listed twice"):
        check_metrics("regression", ["mae", "mae"])


@pytest.mark.parametrize(
    ("task", "y", "s", "message"),
    [
        ("auto", [0, 1], [0.1, 0.2], "resolve 'auto'"),
        ("binary", [0, 2], [0.1, 0.2], "must hold 0 and 1"),
        ("binary", [0, 1], [0.1, 1.2], r"probabilities in \[0, 1\]"),
        ("binary", [0, 1], [0.1], r"shape \(n,\)"),
        ("binary", [0, 1], [0.1, np.nan], "must be finite"),
        ("multiclass", [0, 3], [[0.5, 0.5], [0.5, 0.5]], "class indices 0..1"),
        ("multiclass", [0, 1], [0.5, 0.5], r"shape \(n, k\)"),
        ("regression", ["a", "b"], [1.0, 2.0], "must be numeric"),
        ("regression", [], [], "empty"),
    ],
)
def test_bad_inputs_are_named(task: str, y: object, s: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_metrics(task, y, s)  # type: ignore[arg-type]
