"""Tests of shipyard/evaluate/bootstrap.py: intervals, the paired comparison, speed."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.stats import norm

from shipyard.evaluate import bootstrap, compute_metrics, paired_bootstrap
from shipyard.evaluate.bootstrap import replicate_weights


def separated(
    n: int, rng: np.random.Generator, shift: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores whose population ROC AUC is Phi(shift / sqrt(2))."""
    y = rng.integers(0, 2, n)
    z = rng.normal(size=n) + shift * y
    return y, 1 / (1 + np.exp(-z))


def test_replicates_are_multinomial_counts() -> None:
    blocks = list(replicate_weights(50, 7, seed=1))
    counts = np.concatenate(blocks)
    assert counts.shape == (7, 50)
    assert (counts.sum(axis=1) == 50).all()
    assert (counts == np.round(counts)).all() and (counts >= 0).all()
    again = np.concatenate(list(replicate_weights(50, 7, seed=1)))
    assert np.array_equal(counts, again)


def test_interval_contains_the_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    y, p = separated(2000, rng)
    point = compute_metrics("binary", y, p)
    first = bootstrap("binary", y, p, n=300, seed=3)
    assert first == bootstrap("binary", y, p, n=300, seed=3)
    assert first != bootstrap("binary", y, p, n=300, seed=4)
    for name, (low, high) in first.items():
        assert low <= point[name] <= high, name
        assert high - low < 0.1, name


@pytest.mark.parametrize(
    ("task", "make"),
    [
        ("multiclass", lambda rng: (rng.integers(0, 3, 800), rng.dirichlet(np.ones(3), 800))),
        ("regression", lambda rng: (lambda y: (y, y + rng.normal(size=800)))(rng.normal(size=800))),
    ],
)
def test_intervals_for_every_task(task: str, make: object) -> None:
    y, s = make(np.random.default_rng(1))  # type: ignore[operator]
    point = compute_metrics(task, y, s)
    intervals = bootstrap(task, y, s, n=200)
    assert set(intervals) == set(point)
    for name, (low, high) in intervals.items():
        assert low <= point[name] <= high, name


def test_intervals_cover_the_true_value_at_about_the_nominal_rate() -> None:
    # 200 samples of 400 rows from a population whose ROC AUC and accuracy are known.
    rng = np.random.default_rng(11)
    shift = 1.0
    true_auc = norm.cdf(shift / math.sqrt(2))
    true_accuracy = 0.5 * (norm.cdf(shift / 2) + norm.cdf(shift / 2))  # threshold at z = 0.5
    trials, covered = 200, {"roc_auc": 0, "accuracy": 0}
    for seed in range(trials):
        y = rng.integers(0, 2, 400)
        z = rng.normal(size=400) + shift * y
        p = 1 / (1 + np.exp(-(z - shift / 2)))  # label 1 when z >= shift / 2
        intervals = bootstrap("binary", y, p, ["roc_auc", "accuracy"], n=400, seed=seed)
        covered["roc_auc"] += intervals["roc_auc"][0] <= true_auc <= intervals["roc_auc"][1]
        acc_low, acc_high = intervals["accuracy"]
        covered["accuracy"] += acc_low <= true_accuracy <= acc_high
    for name, hits in covered.items():
        rate = hits / trials
        print(f"coverage of {name}: {rate:.3f} (nominal 0.95)")
        assert 0.88 <= rate <= 0.99, name


def test_paired_bootstrap_detects_a_real_regression() -> None:
    rng = np.random.default_rng(2)
    y, production = separated(3000, rng, shift=1.5)
    # The candidate is production blurred by noise: a worse ranking.
    candidate = 1 / (
        1 + np.exp(-(np.log(production / (1 - production)) + rng.normal(0, 1.0, len(y))))
    )
    delta, low, high = paired_bootstrap("binary", y, candidate, production, "roc_auc", n=500)
    expected = (
        compute_metrics("binary", y, candidate)["roc_auc"]
        - compute_metrics("binary", y, production)["roc_auc"]
    )
    assert delta == pytest.approx(expected)
    assert low < delta < high < 0


def test_paired_bootstrap_is_signed_so_positive_means_better_for_losses() -> None:
    rng = np.random.default_rng(3)
    y, production = separated(2000, rng)
    worse = np.clip(production + rng.normal(0, 0.15, len(y)), 0.001, 0.999)
    delta, low, high = paired_bootstrap("binary", y, worse, production, "log_loss", n=300)
    losses = [compute_metrics("binary", y, s)["log_loss"] for s in (worse, production)]
    assert delta == pytest.approx(losses[1] - losses[0]) and delta < 0
    assert high < 0
    # And the other way round it is an improvement.
    assert paired_bootstrap("binary", y, production, worse, "log_loss", n=300).low > 0


def test_paired_bootstrap_does_not_flag_noise() -> None:
    # Two equally good models (independent noise): the interval holds 0 nearly always.
    rng = np.random.default_rng(4)
    holds = 0
    for seed in range(20):
        y = rng.integers(0, 2, 1000)
        base = rng.normal(size=1000) + y
        a, b = (1 / (1 + np.exp(-(base + rng.normal(0, 0.5, 1000)))) for _ in range(2))
        _, low, high = paired_bootstrap("binary", y, a, b, "roc_auc", n=300, seed=seed)
        holds += low <= 0 <= high
    assert holds >= 17


def test_paired_bootstrap_of_a_model_with_itself_is_zero() -> None:
    rng = np.random.default_rng(5)
    y, p = separated(500, rng)
    assert tuple(paired_bootstrap("binary", y, p, p, "roc_auc", n=100)) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_uses_each_models_threshold() -> None:
    y = np.array([0, 0, 1, 1] * 50)
    p = np.array([0.1, 0.3, 0.35, 0.9] * 50)
    apart = paired_bootstrap(
        "binary", y, p, p, "accuracy", n=50, threshold=0.32, production_threshold=0.5
    )
    assert apart.delta == pytest.approx(1.0 - 0.75)  # 0.32 labels every row right; 0.5 does not
    assert paired_bootstrap("binary", y, p, p, "accuracy", n=50, threshold=0.32).delta == 0


def test_bad_settings_are_errors() -> None:
    with pytest.raises(ValueError, match="n \\(bootstrap replicates\\) must be >= 1"):
        bootstrap("binary", [0, 1], [0.2, 0.8], n=0)
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        bootstrap("binary", [0, 1], [0.2, 0.8], alpha=1.5)


def test_a_metric_no_replicate_defines_is_nan() -> None:
    low, high = bootstrap("binary", [1, 1, 1], [0.2, 0.5, 0.9], ["roc_auc"], n=20)["roc_auc"]
    assert math.isnan(low) and math.isnan(high)


@pytest.mark.slow
def test_timing_of_1000_replicates_of_100k_rows(capsys: pytest.CaptureFixture[str]) -> None:
    # Printed, not asserted: a shared CI machine's timings say little.
    rng = np.random.default_rng(6)
    y, p = separated(100_000, rng)
    lines = []
    for label, metrics in (
        ("roc_auc", ["roc_auc"]),
        ("all binary metrics", None),
    ):
        wall, cpu = time.perf_counter(), time.process_time()
        intervals = bootstrap("binary", y, p, metrics, n=1000)
        lines.append(
            f"bootstrap 1000 x 100k rows, {label}: {time.perf_counter() - wall:.2f} s wall, "
            f"{time.process_time() - cpu:.2f} s CPU"
        )
        assert all(low < high for low, high in intervals.values())
    wall, cpu = time.perf_counter(), time.process_time()
    other = np.clip(p + rng.normal(0, 0.05, len(p)), 0, 1)
    paired_bootstrap("binary", y, p, other, "roc_auc", n=1000)
    lines.append(
        f"paired bootstrap 1000 x 100k rows, roc_auc: {time.perf_counter() - wall:.2f} s wall, "
        f"{time.process_time() - cpu:.2f} s CPU"
    )
    with capsys.disabled():
        print("\n" + "\n".join(lines))
