"""LightGBM specifics: names from LightGBM's own table, aliases, early stopping."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.errors import ConfigError
from shipyard.train import make_trainer

from .conftest import Split


@pytest.fixture
def lgb() -> Any:
    return make_trainer("lightgbm")


def test_unknown_parameter_names_the_field_and_suggests(lgb: Any) -> None:
    with pytest.raises(ConfigError) as info:
        lgb.validate({"max_dpeth": 3}, "binary")
    assert info.value.field == "train.params.max_dpeth"
    assert "did you mean 'max_depth'?" in str(info.value)
    valid = str(info.value).split("Valid parameters: ")[1].split(", ")
    assert {"num_leaves", "learning_rate", "feature_fraction", "num_iterations"} <= set(valid)


def test_aliases_become_canonical_names(lgb: Any) -> None:
    p = lgb.validate({"eta": 0.1, "n_estimators": 50, "colsample_bytree": 0.5}, "binary")
    assert p["learning_rate"] == 0.1 and p["num_iterations"] == 50
    assert p["feature_fraction"] == 0.5 and "eta" not in p
    with pytest.raises(ConfigError, match="same LightGBM parameter") as info:
        lgb.validate({"eta": 0.1, "learning_rate": 0.2}, "binary")
    assert info.value.field == "train.params.learning_rate"


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"num_leaves": 1}, "num_leaves", r"\(num_leaves\) > \(1\)"),
        ({"shrinkage_rate": -1.0}, "shrinkage_rate", "learning_rate"),
        ({"num_leaves": "many"}, "num_leaves", "should be of type int"),
        ({"bagging_fraction": 2.0}, "bagging_fraction", "<= \\(1.0\\)"),
    ],
)
def test_values_lightgbm_refuses_fail_before_training(
    lgb: Any, params: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(ConfigError, match=text) as info:
        lgb.validate(params, "binary")
    assert info.value.field == f"train.params.{field}"


def test_objective_must_fit_the_task(lgb: Any) -> None:
    with pytest.raises(ConfigError, match="did you mean 'multiclass'") as info:
        lgb.validate({"objective": "multiclas"}, "multiclass")
    assert info.value.field == "train.params.objective"
    with pytest.raises(ConfigError, match="for task 'binary'"):
        lgb.validate({"objective": "regression"}, "binary")


def test_defaults_per_task(lgb: Any) -> None:
    p = lgb.validate({}, "binary")
    assert p["objective"] == "binary" and p["metric"] == ["binary_logloss"]
    assert p["deterministic"] is True and p["force_col_wise"] is True and p["verbosity"] == -1
    assert lgb.validate({}, "multiclass", num_classes=3)["num_class"] == 3
    assert lgb.validate({"force_row_wise": True}, "regression").get("force_col_wise") is None


def test_early_stopping_stops_and_keeps_the_best_rounds(lgb: Any, binary: Split) -> None:
    model = lgb.fit(
        binary.train, binary.eval, {"learning_rate": 0.3, "num_iterations": 2000},
        task="binary", early_stopping_rounds=10,
    )  # fmt: skip
    assert model.best_iteration is not None and model.best_iteration < 1990
    assert model.num_iterations == model.best_iteration + 1 == model.model.current_iteration()
    assert model.params["early_stopping_round"] == 10


def test_early_stopping_in_params_or_config_but_not_both_differently(
    lgb: Any, binary: Split
) -> None:
    with pytest.raises(ConfigError, match="give it once") as info:
        lgb.fit(binary.train, binary.eval, {"early_stopping_rounds": 5}, task="binary",
                early_stopping_rounds=10)  # fmt: skip
    assert info.value.field == "train.params.early_stopping_round"
    model = lgb.fit(binary.train, binary.eval, {"early_stopping_rounds": 5, "learning_rate": 0.5},
                    task="binary")  # fmt: skip
    assert model.params["early_stopping_round"] == 5 and model.best_iteration is not None


def test_device_cuda_on_a_cpu_build_is_a_config_error(lgb: Any, binary: Split) -> None:
    with pytest.raises(ConfigError) as info:
        lgb.fit(binary.train, binary.eval, {}, task="binary", device="cuda")
    assert info.value.field == "train.device"
