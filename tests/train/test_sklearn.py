"""scikit-learn specifics: estimators by import path, checks against get_params."""

from __future__ import annotations

import pytest

from shipyard.errors import ConfigError
from shipyard.train import make_trainer

from .conftest import Split


@pytest.mark.parametrize(
    "path",
    ["sklearn.ensemble:RandomForestClassifier", "sklearn.ensemble.RandomForestClassifier"],
)
def test_estimator_by_import_path_either_spelling(path: str, binary: Split) -> None:
    model = make_trainer("sklearn", estimator=path).fit(
        binary.train, binary.eval, {"n_estimators": 50}, task="binary", seed=1
    )
    assert type(model.model).__name__ == "RandomForestClassifier"
    assert model.params == {"n_estimators": 50, "random_state": 1}
    assert model.source == path and sum(model.importances().values()) == pytest.approx(1.0)


def test_unknown_parameter_lists_get_params(binary: Split) -> None:
    trainer = make_trainer("sklearn", estimator="sklearn.ensemble:RandomForestClassifier")
    with pytest.raises(ConfigError) as info:
        trainer.validate({"max_dpeth": 3}, "binary")
    assert info.value.field == "train.params.max_dpeth"
    assert "did you mean 'max_depth'?" in str(info.value)
    assert "n_estimators" in str(info.value) and "RandomForestClassifier" in str(info.value)


def test_values_are_checked_by_the_estimators_constraints() -> None:
    with pytest.raises(
        ConfigError, match="'max_depth' parameter of HistGradientBoostingClassifier"
    ) as info:
        make_trainer("sklearn").validate({"max_depth": "deep"}, "binary")
    assert info.value.field == "train.params.max_depth"


def test_nested_parameters_of_meta_estimators() -> None:
    trainer = make_trainer("sklearn", estimator="sklearn.ensemble:BaggingClassifier")
    trainer.validate({"n_estimators": 3}, "binary")
    with pytest.raises(ConfigError) as info:
        trainer.validate({"estimator__max_depth": 3}, "binary")  # no estimator set
    assert info.value.field == "train.params.estimator__max_depth"


@pytest.mark.parametrize(
    ("path", "task", "text"),
    [
        (
            "sklearn.ensemble:RandomForestRegresor",
            "regression",
            "did you mean 'RandomForestRegressor'",
        ),
        ("sklearn.nope:Thing", "binary", "cannot import 'sklearn.nope'"),
        ("sklearn.preprocessing:StandardScaler", "binary", "not a classifier"),
        ("sklearn.linear_model:LogisticRegression", "regression", "not a regressor"),
        ("sklearn.linear_model:RidgeClassifier", "binary", "no predict_proba"),
        ("sklearn.model_selection:KFold", "binary", "not a scikit-learn estimator"),
        ("lightgbm.sklearn:LGBMClassifier", "binary", "not from scikit-learn"),
        ("Ridge", "regression", "not an import path"),
    ],
)
def test_bad_estimators_are_config_errors(path: str, task: str, text: str) -> None:
    with pytest.raises(ConfigError, match=text) as info:
        make_trainer("sklearn", estimator=path).validate({}, task)  # type: ignore[arg-type]
    assert info.value.field == "train.estimator"


def test_a_svc_without_probabilities_is_refused_with_probability_allowed() -> None:
    trainer = make_trainer("sklearn", estimator="sklearn.svm:SVC")
    with pytest.raises(ConfigError, match="no predict_proba"):
        trainer.validate({}, "binary")
    trainer.validate({"probability": True}, "binary")


def test_early_stopping_maps_to_n_iter_no_change(binary: Split) -> None:
    model = make_trainer("sklearn").fit(binary.train, binary.eval, {"max_iter": 1000}, task="binary",
                                        early_stopping_rounds=5)  # fmt: skip
    assert model.params["early_stopping"] is True and model.params["n_iter_no_change"] == 5
    assert model.num_iterations is not None and model.num_iterations < 1000
    forest = make_trainer("sklearn", estimator="sklearn.ensemble:RandomForestClassifier")
    with pytest.raises(ConfigError, match="no early stopping") as info:
        forest.fit(binary.train, binary.eval, {}, task="binary", early_stopping_rounds=5)
    assert info.value.field == "train.early_stopping_rounds"


def test_a_class_missing_from_train_keeps_its_column(multiclass: Split) -> None:
    X, y = multiclass.train
    keep = y != 2
    model = make_trainer("sklearn", estimator="sklearn.ensemble:RandomForestClassifier").fit(
        (X[keep], y[keep]), None, {"n_estimators": 10}, task="multiclass", num_classes=3
    )
    pred = model.predict(multiclass.test[0])
    assert pred.shape == (len(multiclass.test[0]), 3) and (pred[:, 2] == 0).all()


def test_linear_model_importances_are_mean_absolute_coefficients(multiclass: Split) -> None:
    from sklearn.pipeline import make_pipeline  # noqa: F401 - documents that pipelines work too

    model = make_trainer("sklearn", estimator="sklearn.linear_model:LogisticRegression").fit(
        ((multiclass.train[0] - multiclass.train[0].mean(0)) / multiclass.train[0].std(0), multiclass.train[1]),
        None, {"max_iter": 2000}, task="multiclass",
    )  # fmt: skip
    imp = model.importances()
    assert len(imp) == 13 and all(v >= 0 for v in imp.values())
