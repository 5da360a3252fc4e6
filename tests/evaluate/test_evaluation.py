"""Tests of shipyard/evaluate/_evaluation.py: evaluate() end to end, and the artifact's data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from shipyard.config import EvaluateConfig
from shipyard.errors import ConfigError
from shipyard.evaluate import Evaluation, compute_metrics, evaluate


def scores(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    z = rng.normal(size=n) + 1.5 * y
    return y, 1 / (1 + np.exp(-(z + rng.normal(0, noise, n))))


def test_first_model_is_judged_by_thresholds_alone() -> None:
    y, p = scores(1000, 0, 0.0)
    cfg = EvaluateConfig.model_validate(
        {
            "metrics": ["roc_auc", "accuracy"],
            "bootstrap": 100,
            "gate": {"thresholds": {"roc_auc": {"min": 0.7}}},
        }
    )
    result = evaluate("binary", y, p, config=cfg, threshold=0.4)
    assert result.blessed and result.production is None and result.comparison is None
    assert list(result.metrics) == ["roc_auc", "accuracy"]
    assert result.metrics == compute_metrics(
        "binary", y, p, metrics=["roc_auc", "accuracy"], threshold=0.4
    )
    assert set(result.intervals) == {"roc_auc", "accuracy"}
    assert result.threshold == 0.4
    assert set(result.curves) == {"candidate"}


def test_a_worse_candidate_is_rejected_against_production() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 3000)
    z = rng.normal(size=3000) + 1.5 * y
    production = 1 / (1 + np.exp(-z))
    candidate = 1 / (1 + np.exp(-(z + rng.normal(0, 1.5, 3000))))
    cfg = EvaluateConfig.model_validate({"metrics": ["roc_auc"], "gate": {"tolerance": 0.001}})
    result = evaluate("binary", y, candidate, config=cfg, production_score=production)
    assert not result.blessed
    assert result.comparison is not None and result.comparison["replicates"] == 1000
    assert result.comparison["high"] < 0
    assert result.verdict is not None and "roc_auc" in result.verdict.reasons[0]
    assert set(result.curves) == {"candidate", "production"}


def test_a_better_candidate_is_blessed() -> None:
    y, good = scores(2000, 2, 0.0)
    _, bad = scores(2000, 2, 2.0)
    result = evaluate("binary", y, good, production_score=bad)
    assert result.blessed
    assert result.comparison is not None and result.comparison["low"] > 0


def test_configured_names_are_checked() -> None:
    y, p = scores(100, 3, 0.0)
    with pytest.raises(ConfigError) as info:
        evaluate("binary", y, p, config=EvaluateConfig(metrics=["roc_auc", "rmse"]))
    assert info.value.field == "evaluate.metrics[1]"
    cfg = EvaluateConfig.model_validate({"gate": {"thresholds": {"roc_acu": {"min": 0.5}}}})
    with pytest.raises(ConfigError, match="did you mean 'roc_auc'") as info:
        evaluate("binary", y, p, config=cfg)
    assert info.value.field == "evaluate.gate.thresholds.roc_acu"
    with pytest.raises(ConfigError, match="slice column 'city' is not in the eval data") as info:
        evaluate(
            "binary", y, p, config=EvaluateConfig(slices=["city"]), slices={"age": np.ones(100)}
        )
    assert info.value.field == "evaluate.slices[0]"


def test_round_trip_through_json_keeps_everything() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 400)
    p = rng.dirichlet(np.ones(3), 400)
    q = rng.dirichlet(np.ones(3), 400)
    result = evaluate(
        "multiclass",
        y,
        p,
        production_score=q,
        config=EvaluateConfig(bootstrap=50),
        slices={"g": rng.choice(["a", "b"], 400), "tiny": np.array(["x"] * 5 + ["y"] * 395)},
        importances={"permutation": {"f": (0.1, 0.01)}, "gain": {"f": 1.0}},
        labels=["cat", "dog", "eel"],
    )
    text = json.dumps(result.to_dict(), allow_nan=False)  # strict JSON: NaN became null
    again = Evaluation.from_dict(json.loads(text))
    assert again.metrics == result.metrics
    assert again.intervals == result.intervals
    assert again.production == result.production
    assert again.comparison == result.comparison
    assert again.verdict is not None and result.verdict is not None
    assert again.verdict.reasons == result.verdict.reasons
    assert again.importances == {"permutation": {"f": (0.1, 0.01)}, "gain": {"f": 1.0}}
    assert again.slices == result.slices
    assert again.curves["candidate"]["labels"] == ["cat", "dog", "eel"]


def test_undefined_metrics_survive_the_round_trip_as_nan() -> None:
    result = evaluate(
        "binary", [1, 1, 1, 1], [0.2, 0.4, 0.6, 0.9], config=EvaluateConfig(bootstrap=10)
    )
    assert math.isnan(result.metrics["roc_auc"])
    again = Evaluation.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=False)))
    assert math.isnan(again.metrics["roc_auc"])
    assert math.isnan(again.intervals["roc_auc"][0])


def test_regression_end_to_end() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(size=500)
    result = evaluate(
        "regression",
        y,
        y + rng.normal(0, 0.5, 500),
        production_score=y + rng.normal(0, 0.5, 500),
        config=EvaluateConfig.model_validate({"gate": {"tolerance": 0.2}}),
    )
    assert list(result.metrics)[0] == "rmse"
    assert result.blessed  # equally good models, within a generous tolerance
    assert result.threshold is None
