"""XGBoost specifics: parameter checks by XGBoost itself, early stopping, defaults."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from shipyard.errors import ConfigError
from shipyard.train import make_trainer

from .conftest import Split


@pytest.fixture
def xgb() -> Any:
    return make_trainer("xgboost")


def test_unknown_parameter_names_the_field_and_suggests(xgb: Any) -> None:
    with pytest.raises(ConfigError) as info:
        xgb.validate({"max_dpeth": 3}, "binary")
    err = info.value
    assert err.field == "train.params.max_dpeth"
    assert "did you mean 'max_depth'?" in str(err)
    valid = str(err).split("Valid parameters: ")[1].split(", ")
    assert {"max_depth", "eta", "learning_rate", "subsample", "num_boost_round"} <= set(valid)


def test_a_parameter_of_another_booster_is_unknown_for_this_one(xgb: Any) -> None:
    with pytest.raises(ConfigError, match="booster 'gblinear'") as info:
        xgb.validate({"booster": "gblinear", "max_depth": 3}, "regression")
    assert info.value.field == "train.params.max_depth"


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"max_depth": -1}, "max_depth", "greater equal to 0"),
        ({"eta": -1}, "eta", "greater equal to 0"),
        ({"max_depth": "deep"}, "max_depth", "expect int"),
        ({"eval_metric": "aucc"}, "eval_metric", "Unknown metric"),
    ],
)
def test_values_xgboost_refuses_fail_before_training(
    xgb: Any, params: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(ConfigError, match=text) as info:
        xgb.validate(params, "binary")
    assert info.value.field == f"train.params.{field}"
    assert "Stack trace" not in str(info.value)


@pytest.mark.parametrize(
    ("objective", "task"),
    [
        ("multi:softmax", "multiclass"),
        ("reg:squarederror", "binary"),
        ("binary:logistic", "regression"),
    ],
)
def test_objective_must_fit_the_task(xgb: Any, objective: str, task: str) -> None:
    with pytest.raises(ConfigError, match="does not fit task") as info:
        xgb.validate({"objective": objective}, task)
    assert info.value.field == "train.params.objective"


def test_defaults_per_task(xgb: Any) -> None:
    p = xgb.validate({}, "binary")
    assert p["objective"] == "binary:logistic" and p["eval_metric"] == ["logloss"]
    assert p["num_boost_round"] == 100 and p["tree_method"] == "hist"
    assert xgb.validate({}, "multiclass", num_classes=4)["num_class"] == 4
    assert xgb.validate({}, "regression")["eval_metric"] == ["rmse"]
    # another objective: XGBoost picks its metric
    assert "eval_metric" not in xgb.validate({"objective": "reg:absoluteerror"}, "regression")
    assert xgb.validate({"n_estimators": 7}, "binary")["num_boost_round"] == 7


def test_early_stopping_stops_and_keeps_the_best_rounds(xgb: Any, binary: Split) -> None:
    model = xgb.fit(
        binary.train, binary.eval, {"eta": 0.3, "num_boost_round": 2000}, task="binary",
        early_stopping_rounds=10, feature_names=binary.feature_names,
    )  # fmt: skip
    assert model.best_iteration is not None and model.best_iteration < 1990
    assert model.num_iterations == model.best_iteration + 1 == model.model.num_boosted_rounds()
    assert model.params["early_stopping_rounds"] == 10
    # the seed given reaches XGBoost; the thread count (a machine's) stays out of the model
    assert model.params["seed"] == 0 and "nthread" not in model.params


def test_early_stopping_needs_an_eval_split(xgb: Any, binary: Split) -> None:
    with pytest.raises(ConfigError, match="needs an eval split") as info:
        xgb.fit(binary.train, None, {}, task="binary", early_stopping_rounds=5)
    assert info.value.field == "train.early_stopping_rounds"


def test_trains_without_eval_and_with_gblinear(xgb: Any, regression: Split) -> None:
    model = xgb.fit(regression.train, None, {"booster": "gblinear"}, task="regression")
    assert model.predict(regression.test[0]).shape == (len(regression.test[0]),)
    assert model.best_iteration is None and model.num_iterations == 100
    assert model.importances() == {}


def test_importances_are_total_gain_by_feature_name(xgb: Any, binary: Split) -> None:
    model = xgb.fit(
        binary.train, binary.eval, {}, task="binary", feature_names=binary.feature_names
    )
    imp = model.importances()
    assert list(imp) == binary.feature_names
    gains = model.model.get_score(importance_type="total_gain")
    # The booster trains on positions (f0, f1, ...); importances come back by name.
    names = binary.feature_names
    assert all(imp[names[int(k[1:])]] == pytest.approx(v) for k, v in gains.items())


def test_names_xgboost_refuses_and_constraints_by_name(xgb: Any, binary: Split) -> None:
    names = [f"c=<oov>[{i}]" for i in range(len(binary.feature_names))]
    model = xgb.fit(
        binary.train,
        binary.eval,
        {"monotone_constraints": {names[0]: 1}},
        task="binary",
        feature_names=names,
    )
    assert list(model.importances()) == names
    with pytest.raises(ConfigError, match="monotone_constraints"):
        xgb.fit(
            binary.train,
            binary.eval,
            {"monotone_constraints": {"nope": 1}},
            task="binary",
            feature_names=names,
        )


def test_device_cuda_without_a_cuda_build_is_a_config_error(xgb: Any, binary: Split) -> None:
    import xgboost

    if xgboost.build_info().get("USE_CUDA"):
        pytest.skip("this XGBoost has CUDA")
    with pytest.raises(ConfigError, match="no CUDA") as info:
        xgb.fit(binary.train, binary.eval, {}, task="binary", device="cuda")
    assert info.value.field == "train.device"


def test_labels_must_be_class_indices(xgb: Any, binary: Split) -> None:
    X, y = binary.train
    from shipyard.errors import DataValidationError

    with pytest.raises(DataValidationError, match=re.escape("labels 0..1")):
        xgb.fit((X, y * 2), None, {}, task="binary")
    with pytest.raises(DataValidationError, match="2 feature names were given for 30"):
        xgb.fit((X, y), None, {}, task="binary", feature_names=["a", "b"])
    assert np.issubdtype(
        xgb.fit((X, y.astype(float)), None, {}, task="binary").predict(X).dtype, np.floating
    )
