"""Tests of shipyard/evaluate/threshold.py: the rules that choose a binary model's threshold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from shipyard.evaluate import check_threshold_rule, choose_threshold


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1500)
    p = np.round(1 / (1 + np.exp(-(rng.normal(size=1500) + 1.2 * y - 0.6))), 2)  # ties
    return y, p


def brute(y: np.ndarray, p: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """(threshold, f1, precision, recall, fpr) for every distinct score, highest first."""
    out = []
    for t in np.unique(p)[::-1]:
        label = p >= t
        fpr = (label & (y == 0)).sum() / (y == 0).sum()
        out.append(
            (
                float(t),
                skm.f1_score(y, label),
                skm.precision_score(y, label, zero_division=0),
                skm.recall_score(y, label),
                float(fpr),
            )
        )
    return out


def test_f1_rule_picks_the_best_f1(rows: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = rows
    t = choose_threshold(y, p, "f1")
    table = brute(y, p)
    best = max(f1 for _, f1, *_ in table)
    assert skm.f1_score(y, p >= t) == pytest.approx(best)
    # Among equal F1s the highest threshold wins.
    assert t == max(th for th, f1, *_ in table if f1 == pytest.approx(best))


def test_youden_rule_picks_the_best_tpr_minus_fpr(rows: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = rows
    t = choose_threshold(y, p, "youden")
    fpr, tpr, thresholds = skm.roc_curve(y, p, drop_intermediate=False)
    assert t == pytest.approx(thresholds[np.argmax(tpr - fpr)])


def test_precision_bound_gives_the_most_recall_that_meets_it(
    rows: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = rows
    t = choose_threshold(y, p, "precision>=0.8")
    label = p >= t
    assert skm.precision_score(y, label) >= 0.8
    best_recall = max(r for _, _, prec, r, _ in brute(y, p) if prec >= 0.8)
    assert skm.recall_score(y, label) == pytest.approx(best_recall)


def test_recall_and_fpr_bounds(rows: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = rows
    table = brute(y, p)
    t = choose_threshold(y, p, "recall >= 0.9")
    assert skm.recall_score(y, p >= t) >= 0.9
    assert skm.precision_score(y, p >= t) == pytest.approx(
        max(prec for _, _, prec, r, _ in table if r >= 0.9)
    )
    t = choose_threshold(y, p, "fpr<=0.05")
    fpr = ((p >= t) & (y == 0)).sum() / (y == 0).sum()
    assert fpr <= 0.05
    assert skm.recall_score(y, p >= t) == pytest.approx(max(r for *_, r, f in table if f <= 0.05))
    assert choose_threshold(y, p, "tpr>=0.9") == choose_threshold(y, p, "recall>=0.9")


@pytest.mark.parametrize("rule", [0.35, "0.35", " 0.35 "])
def test_a_fixed_number_is_kept(rule: str | float) -> None:
    assert choose_threshold([0, 1], [0.2, 0.9], rule) == 0.35


def test_weights_count_like_repeated_rows(rows: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = rows
    counts = np.random.default_rng(1).integers(0, 3, len(y))
    assert choose_threshold(y, p, "f1", sample_weight=counts) == choose_threshold(
        np.repeat(y, counts), np.repeat(p, counts), "f1"
    )


def test_an_unreachable_bound_says_what_is_reachable() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.6])  # the top row is a negative: precision tops out at 0.5
    with pytest.raises(ValueError, match="the best precision reachable is 0.5"):
        choose_threshold(y, p, "precision>=0.9")


def test_rules_need_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        choose_threshold([1, 1], [0.2, 0.9], "f1")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("f2", "did you mean 'f1'"),
        ("youdn", "did you mean 'youden'"),
        ("precision<=0.9", "precision takes a bound 'precision>=x'"),
        ("precision>=1.5", r"must be in \[0, 1\]"),
        (1.5, r"must be in \[0, 1\]"),
        (True, "unknown threshold rule"),
    ],
)
def test_bad_rules_are_explained(rule: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_threshold_rule(rule)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Expected one of|must be in|takes a bound"):
        choose_threshold([0, 1], [0.2, 0.9], rule)  # type: ignore[arg-type]
