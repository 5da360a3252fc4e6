"""Tests of shipyard/evaluate/gate.py: verdicts and the words that explain them."""

from __future__ import annotations

import json
import math

import pytest

from shipyard.config import EvaluateConfig, GateConfig
from shipyard.errors import GateRejectedError, exit_code
from shipyard.evaluate import PairedDelta, Verdict, gate


def config(**gate_settings: object) -> EvaluateConfig:
    return EvaluateConfig.model_validate(
        {"metrics": ["roc_auc", "log_loss", "accuracy"], "gate": gate_settings}
    )


CANDIDATE = {"roc_auc": 0.84, "log_loss": 0.41, "accuracy": 0.79}


def test_thresholds_alone_decide_without_production() -> None:
    verdict = gate(
        CANDIDATE,
        None,
        None,
        config(thresholds={"roc_auc": {"min": 0.8}, "log_loss": {"max": 0.5}}),
    )
    assert verdict.blessed
    assert [c["check"] for c in verdict.checks] == ["threshold", "threshold", "no_regression"]
    assert verdict.checks[-1]["skipped"]
    assert "no model at alias 'production' yet: thresholds alone decide" in verdict.reasons[-1]
    assert "roc_auc = 0.8400 meets its threshold (at least 0.8)" in verdict.reasons[0]


def test_a_missed_threshold_rejects_with_the_numbers() -> None:
    verdict = gate(
        CANDIDATE,
        None,
        None,
        config(thresholds={"roc_auc": {"min": 0.9}, "log_loss": {"max": 0.3}}),
    )
    assert not verdict.blessed
    assert verdict.reasons == [
        "roc_auc = 0.8400 is below the minimum 0.9",
        "log_loss = 0.4100 is above the maximum 0.3",
    ]
    assert verdict.checks[0]["value"] == 0.84 and verdict.checks[0]["limit"] == 0.9


@pytest.mark.parametrize(("value", "words"), [(None, "was not computed"), (math.nan, "NaN")])
def test_missing_evidence_never_blesses(value: float | None, words: str) -> None:
    candidate = {"accuracy": 0.9} if value is None else {"roc_auc": value}
    verdict = gate(candidate, None, None, config(thresholds={"roc_auc": {"min": 0.5}}))
    assert not verdict.blessed
    assert words in verdict.reasons[0]


def test_a_regression_against_production_is_rejected_naming_metric_and_numbers() -> None:
    production = {"roc_auc": 0.86, "log_loss": 0.39, "accuracy": 0.8}
    paired = PairedDelta(-0.02, -0.028, -0.012)
    verdict = gate(CANDIDATE, production, paired, config(tolerance=0.005))
    assert not verdict.blessed
    (reason,) = verdict.reasons
    for text in (
        "roc_auc",
        "-0.0200",
        "[-0.0280, -0.0120]",
        "candidate 0.8400, production 0.8600",
        "its lower bound -0.0280 is below -tolerance -0.0050",
        "a significant regression against 'production'",
    ):
        assert text in reason, text
    with pytest.raises(GateRejectedError, match="roc_auc") as info:
        verdict.raise_if_rejected()
    assert exit_code(info.value) == 3


def test_within_tolerance_is_blessed() -> None:
    production = {"roc_auc": 0.845}
    verdict = gate(CANDIDATE, production, (-0.005, -0.009, -0.001), config(tolerance=0.01))
    assert verdict.blessed
    assert (
        "its lower bound -0.0090 >= -tolerance -0.0100: no significant regression"
        in (verdict.reasons[-1])
    )
    verdict.raise_if_rejected()  # blessed: nothing raised


def test_an_interval_that_straddles_zero_beyond_the_tolerance_is_not_enough() -> None:
    verdict = gate(CANDIDATE, {"roc_auc": 0.84}, (0.0, -0.02, 0.02), config(tolerance=0.01))
    assert not verdict.blessed
    assert "may be worse than 'production' by more than the tolerance" in verdict.reasons[0]


def test_an_identical_model_passes_with_zero_tolerance() -> None:
    verdict = gate(CANDIDATE, dict(CANDIDATE), (0.0, 0.0, 0.0), config())
    assert verdict.blessed


def test_the_first_listed_metric_is_compared_and_losses_are_explained() -> None:
    cfg = EvaluateConfig.model_validate({"metrics": ["log_loss", "roc_auc"]})
    verdict = gate(CANDIDATE, {"log_loss": 0.40, "roc_auc": 0.8}, (-0.01, -0.02, 0.0), cfg)
    check = verdict.checks[-1]
    assert check["metric"] == "log_loss"
    assert "production - candidate, as lower is better" in check["message"]


def test_without_a_paired_interval_the_plain_difference_is_held_to_the_bound() -> None:
    verdict = gate(CANDIDATE, {"roc_auc": 0.83}, None, GateConfig(tolerance=0.0))
    assert verdict.blessed
    assert "+0.0100 on all rows (no bootstrap)" in verdict.reasons[-1]
    assert not gate(CANDIDATE, {"roc_auc": 0.85}, None, GateConfig()).blessed


def test_compare_to_null_means_thresholds_only() -> None:
    cfg = config(compare_to=None)
    verdict = gate(CANDIDATE, {"roc_auc": 0.99}, (-0.1, -0.2, -0.05), cfg)
    assert verdict.blessed
    assert "compare_to is null" in verdict.reasons[-1]


def test_verdict_round_trips_through_json() -> None:
    verdict = gate({"roc_auc": math.nan}, None, None, config(thresholds={"roc_auc": {"min": 0.5}}))
    again = Verdict.from_dict(json.loads(json.dumps(verdict.to_dict())))
    assert again.blessed == verdict.blessed and again.reasons == verdict.reasons
    assert math.isnan(again.checks[0]["value"])
    assert verdict.summary().startswith("candidate rejected: roc_auc is undefined")
