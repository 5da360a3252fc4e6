"""A user training function: loaded from a file, its model checked and wrapped."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from shipyard.errors import ConfigError
from shipyard.train import make_trainer

from .conftest import Split

CODE = """
import numpy as np
import lightgbm
import xgboost
from sklearn.linear_model import LinearRegression

def xgb_wrapper(train, eval, params, seed, early_stopping_rounds):
    model = xgboost.XGBClassifier(n_estimators=500, random_state=seed,
                                  early_stopping_rounds=early_stopping_rounds, **params)
    return model.fit(*train, eval_set=[eval], verbose=False)

def xgb_native(train, eval, params, **kwargs):
    dtrain = xgboost.DMatrix(*train, feature_names=kwargs["feature_names"])
    deval = xgboost.DMatrix(*eval, feature_names=kwargs["feature_names"])
    return xgboost.train({"objective": "binary:logistic"}, dtrain, 300, evals=[(deval, "v")],
                         early_stopping_rounds=5, verbose_eval=False)

def lgb_wrapper(train, eval, params):
    model = lightgbm.LGBMRegressor(n_estimators=50, verbose=-1)
    return model.fit(*train)

def linear(train, eval, params):
    return LinearRegression().fit(*train)

def margins(train, eval, params):
    return xgboost.train({"objective": "binary:logitraw"}, xgboost.DMatrix(*train), 5)

def not_a_model(train, eval, params):
    return {"weights": [1, 2]}

def unfitted(train, eval, params):
    return LinearRegression()

def two_args(train, eval):
    return None
"""


@pytest.fixture
def code(tmp_path: Path) -> Path:
    path = tmp_path / "user_code.py"
    path.write_text(textwrap.dedent(CODE))
    return path


def test_xgboost_wrapper_becomes_its_best_booster(code: Path, binary: Split) -> None:
    model = make_trainer("function", function=f"{code}:xgb_wrapper").fit(
        binary.train, binary.eval, {"max_depth": 3}, task="binary", seed=4, early_stopping_rounds=5
    )
    assert model.framework == "xgboost" and model.algorithm == "function"
    assert type(model.model).__name__ == "Booster"
    assert model.num_iterations == model.best_iteration + 1  # type: ignore[operator]
    assert model.source == f"{code}:xgb_wrapper" and "eval_auc" in model.metrics
    assert model.predict(binary.test[0]).shape == (len(binary.test[0]),)


def test_native_booster_with_optional_kwargs(code: Path, binary: Split) -> None:
    model = make_trainer("function", function=f"{code}:xgb_native").fit(
        binary.train, binary.eval, {}, task="binary", feature_names=binary.feature_names
    )
    assert (
        model.best_iteration is not None
        and model.model.num_boosted_rounds() == model.best_iteration + 1
    )
    assert set(model.importances()) == set(binary.feature_names)


def test_lightgbm_and_sklearn_models(code: Path, regression: Split) -> None:
    lgbm = make_trainer("function", function=f"{code}:lgb_wrapper")
    model = lgbm.fit(regression.train, None, {}, task="regression")
    assert model.framework == "lightgbm" and type(model.model).__name__ == "Booster"
    lin = make_trainer("function", function=f"{code}:linear").fit(
        regression.train, None, {}, task="regression"
    )
    assert lin.framework == "sklearn"
    assert np.allclose(lin.predict(regression.test[0]), lin.model.predict(regression.test[0]))


@pytest.mark.parametrize(
    ("fn", "text"),
    [
        ("not_a_model", "returned a builtins.dict; expected a model"),
        ("margins", "values outside \\[0, 1\\]"),
        ("unfitted", "not fitted"),
    ],
)
def test_unsupported_results_are_clear_errors(
    code: Path, binary: Split, fn: str, text: str
) -> None:
    with pytest.raises(ConfigError, match=text) as info:
        make_trainer("function", function=f"{code}:{fn}").fit(binary.train, None, {}, task="binary")
    assert info.value.field == "train.function"


@pytest.mark.parametrize(
    ("target", "text"),
    [
        ("{code}:two_args", "must take \\(train, eval, params\\)"),
        ("{code}:missing", "'missing' is missing .* functions there: .*linear"),
        ("{dir}/nope.py:train", "no file"),
        ("no_such_module_xyz:train", "cannot import"),
    ],
)
def test_bad_functions_fail_at_validate(code: Path, target: str, text: str) -> None:
    target = target.format(code=code, dir=code.parent)
    with pytest.raises(ConfigError, match=text) as info:
        make_trainer("function", function=target).validate({}, "binary")
    assert info.value.field == "train.function"


def test_relative_paths_start_from_base(code: Path, regression: Split) -> None:
    trainer = make_trainer("function", function="user_code.py:linear", base=code.parent)
    assert trainer.fit(regression.train, None, {}, task="regression").framework == "sklearn"
