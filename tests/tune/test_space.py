"""The search space: config -> Optuna distributions, conditions, check points, grids."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from shipyard.config import load_config
from shipyard.errors import ConfigError
from shipyard.tune.space import build_space, check_points, grid_space, suggest
from shipyard.tune.steps import resolve_objective

SPACE = {
    "booster": {"type": "categorical", "choices": ["gbtree", "dart"]},
    "rate_drop": {"type": "float", "low": 0.0, "high": 0.5, "condition": "booster == 'dart'"},
    "max_depth": {"type": "int", "low": 2, "high": 10, "step": 2},
    "eta": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
}


def _config(tmp_path: Path, space: str) -> None:
    path = tmp_path / "shipyard.yaml"
    path.write_text(f"tune:\n  space:\n{space}")
    load_config(path)


@pytest.mark.parametrize(
    ("space", "field", "words"),
    [
        ("    depth: {type: int, low: 5, high: 5}\n", "tune.space.depth.low", "less than"),
        ("    depth: {type: int, low: 8, high: 2}\n", "tune.space.depth.low", "less than"),
        ("    eta: {type: float, low: 0, high: 1, log: true}\n", "tune.space.eta.low", "above 0"),
        ("    c: {type: categorical, choices: []}\n", "tune.space.c.choices", "at least 1"),
    ],
)
def test_empty_inverted_and_log_ranges_fail_at_load_naming_the_field(
    tmp_path: Path, space: str, field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, space)
    assert field in str(caught.value) and words in str(caught.value)
    assert "shipyard.yaml:3" in str(caught.value)  # the line of the param at fault


@pytest.mark.parametrize(
    ("space", "field", "words"),
    [
        (
            {"eta": {"type": "float", "low": 0.1, "high": 1, "log": True, "step": 0.1}},
            "tune.space.eta.step",
            "log",
        ),  # fmt: skip
        ({"n": {"type": "int", "low": 1, "high": 10, "step": 4}}, "tune.space.n.step", "multiple"),
        ({"c": {"type": "categorical", "choices": [{"a": 1}]}}, "tune.space.c.choices", "numbers"),
        (
            {
                "b": {"type": "categorical", "choices": ["gbtree", "dart"]},
                "r": {"type": "float", "low": 0, "high": 1, "condition": "b == 'drat'"},
            },
            "tune.space.r.condition",
            "not one of its choices",
        ),
    ],
)
def test_what_optuna_would_refuse_is_a_config_error(
    space: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_space(space)
    assert caught.value.field == field and words in str(caught.value)


def test_a_metric_the_task_does_not_produce_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_objective("rmse", None, "binary")
    message = str(caught.value)
    assert caught.value.field == "tune.metric" and "roc_auc" in message and "log_loss" in message
    assert resolve_objective(None, None, "binary", ["log_loss"]) == ("log_loss", "minimize")
    assert resolve_objective(None, None, "regression") == ("rmse", "minimize")
    assert resolve_objective("r2", None, "regression") == ("r2", "maximize")


def test_a_condition_param_comes_first_and_guards_its_param() -> None:
    space = build_space({k: SPACE[k] for k in ("rate_drop", "booster")})
    assert [p.name for p in space] == ["booster", "rate_drop"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    for _ in range(20):
        trial = study.ask()
        point = suggest(trial, space)
        seen.append(point)
        study.tell(trial, 0.0)
        assert ("rate_drop" in point) == (point["booster"] == "dart")
    assert {p["booster"] for p in seen} == {"gbtree", "dart"}


def test_check_points_reach_both_ends_and_every_guarded_param() -> None:
    points = check_points(build_space(SPACE))
    assert {"booster": "gbtree", "max_depth": 2, "eta": 0.01} in points
    assert {"booster": "dart", "rate_drop": 0.5, "max_depth": 10, "eta": 0.3} in points
    assert all(("rate_drop" in p) == (p["booster"] == "dart") for p in points)


def test_grid_enumerates_steps_and_refuses_continuous_ranges() -> None:
    grid = grid_space(build_space({"max_depth": SPACE["max_depth"], "b": SPACE["booster"]}))
    assert grid == {"max_depth": [2, 4, 6, 8, 10], "b": ["gbtree", "dart"]}
    with pytest.raises(ConfigError) as caught:
        grid_space(build_space({"eta": SPACE["eta"]}))
    assert caught.value.field == "tune.space.eta.step"
