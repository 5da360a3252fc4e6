"""The conformance suite every trainer passes: it learns, predicts to one contract,
is deterministic, survives the artifact store bit for bit, and logs curves in a run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics

import shipyard
from shipyard.errors import ConfigError, DataValidationError
from shipyard.pipeline import materializers
from shipyard.pipeline.materializers import load_value, save_value
from shipyard.pipeline.project import Project
from shipyard.store.artifacts import LocalArtifactStore
from shipyard.train import TrainedModel, TrainedModelMaterializer, make_trainer

from .conftest import Split, history

TRAINERS = ["xgboost", "lightgbm", "sklearn", "function"]

# Diabetes has 265 training rows: the libraries' defaults (learning rate 0.1-0.3, deep
# trees) overfit it, so the regression case uses a gentler setting per trainer.
GENTLE: dict[str, dict[str, Any]] = {
    "xgboost": {"eta": 0.05, "max_depth": 3, "num_boost_round": 500},
    "lightgbm": {"learning_rate": 0.05, "num_leaves": 8, "num_iterations": 500},
    "sklearn": {"learning_rate": 0.05, "max_depth": 3},
    "function": {"learning_rate": 0.05, "max_depth": 3},
}

USER_FUNCTION = """
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

def train(train, eval, params, task, seed):
    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return cls(random_state=seed, **params).fit(*train)
"""


def trainer(name: str, tmp_path: Path) -> Any:
    if name == "function":
        path = tmp_path / "user_train.py"
        path.write_text(USER_FUNCTION)
        return make_trainer("function", function=f"{path}:train")
    return make_trainer(name)


def fit(name: str, split: Split, tmp_path: Path, **kw: Any) -> TrainedModel:
    params = GENTLE[name] if split.task == "regression" else {}
    model: TrainedModel = trainer(name, tmp_path).fit(
        split.train,
        split.eval,
        kw.pop("params", params),
        task=split.task,
        num_classes=split.num_classes,
        feature_names=split.feature_names,
        seed=kw.pop("seed", 7),
        early_stopping_rounds=20 if name in ("xgboost", "lightgbm") else None,
        **kw,
    )
    return model


def quality(split: Split, pred: np.ndarray) -> float:
    y = split.test[1]
    if split.task == "binary":
        return float(metrics.roc_auc_score(y, pred))
    if split.task == "multiclass":
        return float(metrics.accuracy_score(y, pred.argmax(axis=1)))
    return float(metrics.r2_score(y, pred))


THRESHOLD = {"binary": 0.97, "multiclass": 0.9, "regression": 0.25}


@pytest.mark.parametrize("name", TRAINERS)
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_learns_and_predicts_to_the_contract(
    name: str, task: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    split: Split = request.getfixturevalue(task)
    started = time.perf_counter()
    model = fit(name, split, tmp_path)
    elapsed = time.perf_counter() - started
    pred = model.predict(split.test[0])
    n = len(split.test[0])
    if task == "multiclass":
        assert pred.shape == (n, 3)
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-5)
    else:
        assert pred.shape == (n,)
    if task != "regression":
        assert ((pred >= 0) & (pred <= 1)).all()
    assert quality(split, pred) >= THRESHOLD[task], f"{name} {task} in {elapsed:.2f}s"
    assert model.task == task and model.feature_names == split.feature_names
    assert model.num_classes == split.num_classes
    assert model.framework in ("xgboost", "lightgbm", "sklearn") and model.framework_version
    assert any(k.startswith("eval_") for k in model.metrics), model.metrics
    imp = model.importances()
    if imp:  # HistGradientBoosting has none
        assert set(imp) == set(split.feature_names) and max(imp.values()) > 0


@pytest.mark.parametrize("name", TRAINERS)
def test_same_seed_same_model(name: str, multiclass: Split, tmp_path: Path) -> None:
    a = fit(name, multiclass, tmp_path, seed=3, params=_randomised(name))
    b = fit(name, multiclass, tmp_path, seed=3, params=_randomised(name))
    X = multiclass.test[0]
    assert np.array_equal(a.predict(X), b.predict(X))


def _randomised(name: str) -> dict[str, Any]:
    """Row and column sampling, so the seed matters."""
    return {
        "xgboost": {"subsample": 0.7, "colsample_bytree": 0.7},
        "lightgbm": {"bagging_fraction": 0.7, "bagging_freq": 1, "feature_fraction": 0.7},
        "sklearn": {"max_features": 0.5},
        "function": {"max_features": 0.5},
    }[name]


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_seed_reaches_the_library(name: str, multiclass: Split, tmp_path: Path) -> None:
    a = fit(name, multiclass, tmp_path, seed=1, params=_randomised(name))
    b = fit(name, multiclass, tmp_path, seed=2, params=_randomised(name))
    X = multiclass.test[0]
    assert not np.array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize("name", TRAINERS)
def test_predictions_survive_the_artifact_store(
    name: str, binary: Split, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    model = fit(name, binary, tmp_path)
    X = binary.test[0]
    expected = model.predict(X)

    # The framework's model alone, through the existing materializer.
    info = save_value(model.model, store)
    assert not info["unsafe"]
    bare = load_value(info["digest"], store)
    again = TrainedModel(**{**model.__dict__, "model": bare})
    assert np.array_equal(again.predict(X), expected)

    # The TrainedModel artifact (model + metadata) through its own materializer.
    monkeypatch.setattr(
        materializers, "_REGISTRY", [TrainedModelMaterializer(), *materializers._REGISTRY]
    )
    info = save_value(model, store)
    assert info["type"] == "shipyard.trained_model" and not info["unsafe"]
    back = load_value(info["digest"], store)
    assert isinstance(back, TrainedModel)
    assert back.metadata() == model.metadata()
    assert np.array_equal(back.predict(X), expected)
    # The same model is the same bytes: a replayed run reproduces the digest.
    assert save_value(back, store)["digest"] == info["digest"]


@pytest.mark.parametrize("name", TRAINERS)
def test_metrics_are_logged_inside_a_run(
    name: str, binary: Split, project: Project, tmp_path: Path
) -> None:
    many = {
        "xgboost": {"num_boost_round": 1000, "watch_train": True},
        "lightgbm": {"num_iterations": 1000, "watch_train": True},
    }
    with shipyard.start_run(name="t", project=project) as run:
        model = fit(name, binary, tmp_path, params=many.get(name, {}))
    recorded = shipyard.get_run(run.id, project=project)
    assert "eval_logloss" in recorded.metrics or "eval_binary_logloss" in recorded.metrics
    if name in ("xgboost", "lightgbm"):
        key = "eval_logloss" if name == "xgboost" else "eval_binary_logloss"
        curve = history(project, run.id, key)
        # one point per round trained: the kept rounds plus the patience after the best
        assert [s for s, _ in curve] == list(range(len(curve)))
        assert len(curve) == model.best_iteration + 1 + 20  # type: ignore[operator]
        assert min(v for _, v in curve) == pytest.approx(model.metrics[key])
        assert history(project, run.id, key.replace("eval_", "train_"))
    imp = model.importances()
    if imp:
        top = max(imp, key=lambda k: imp[k])
        assert recorded.metrics[f"importance.{top}"] == pytest.approx(imp[top])
    if name != "function":  # a function's params are its own, and here there are none
        assert recorded.params  # the parameters used, with the defaults filled in


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_the_train_split_is_scored_only_when_asked(
    name: str, binary: Split, project: Project, tmp_path: Path
) -> None:
    """Scoring the train split every round doubles a round's time on large data."""
    with shipyard.start_run(name="t", project=project) as run:
        model = fit(name, binary, tmp_path)
    assert not [k for k in model.metrics if k.startswith("train_")]
    assert [k for k in model.metrics if k.startswith("eval_")]
    assert not [
        k for k in shipyard.get_run(run.id, project=project).metrics if k.startswith("train_")
    ]
    with pytest.raises(ConfigError, match="watch_train") as info:
        make_trainer(name).validate({"watch_train": "yes"}, "binary")
    assert info.value.field == "train.params.watch_train"


@pytest.mark.parametrize("name", TRAINERS)
def test_nothing_is_logged_outside_a_run(name: str, binary: Split, tmp_path: Path) -> None:
    fit(name, binary, tmp_path)  # would raise ShipyardError if it logged


@pytest.mark.parametrize("name", ["xgboost", "lightgbm", "sklearn"])
def test_wrong_feature_count_is_a_clear_error(name: str, binary: Split, tmp_path: Path) -> None:
    model = fit(name, binary, tmp_path)
    with pytest.raises(DataValidationError, match=r"shape \(rows, 30\)"):
        model.predict(binary.test[0][:, :5])
