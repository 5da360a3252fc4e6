"""Autolog: plain framework training inside a run or step logs itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lightgbm
import numpy as np
import pytest
import xgboost
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.model_selection import GridSearchCV

import shipyard
from shipyard.pipeline.project import Project
from shipyard.train import autolog, make_trainer

from ..conftest import load
from .conftest import Split, history


@pytest.fixture
def enabled() -> Iterator[None]:
    autolog.enable()
    try:
        yield
    finally:
        autolog.disable()


def _xgb(split: Split, rounds: int = 15) -> xgboost.Booster:
    dtrain = xgboost.DMatrix(*split.train, feature_names=split.feature_names)
    dvalid = xgboost.DMatrix(*split.eval, feature_names=split.feature_names)
    return xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3, "eval_metric": "logloss"},
        dtrain,
        rounds,
        evals=[(dtrain, "train"), (dvalid, "valid")],
        verbose_eval=False,
    )


def test_plain_xgboost_train_logs_params_curves_and_importances(
    enabled: None, binary: Split, project: Project
) -> None:
    with shipyard.start_run(project=project) as run:
        booster = _xgb(binary)
    rec = shipyard.get_run(run.id, project=project)
    assert rec.params["max_depth"] == 3 and rec.params["num_boost_round"] == 15
    curve = history(project, run.id, "valid_logloss")
    assert [s for s, _ in curve] == list(range(15))
    assert curve[-1][1] < curve[0][1]
    assert len(history(project, run.id, "train_logloss")) == 15
    gains = booster.get_score(importance_type="total_gain")
    top = max(gains, key=lambda k: gains[k])
    assert rec.metrics[f"importance.{top}"] == pytest.approx(gains[top])
    assert rec.metrics["importance.mean_radius"] == 0.0 or "mean_radius" in gains


def test_plain_lightgbm_train_logs_too(enabled: None, regression: Split, project: Project) -> None:
    with shipyard.start_run(project=project) as run:
        dtrain = lightgbm.Dataset(*regression.train, feature_name=regression.feature_names)
        dvalid = lightgbm.Dataset(*regression.eval, reference=dtrain)
        lightgbm.train({"objective": "regression", "verbosity": -1, "num_leaves": 7}, dtrain, 12,
                       valid_sets=[dvalid], valid_names=["valid"])  # fmt: skip
    rec = shipyard.get_run(run.id, project=project)
    assert rec.params["num_leaves"] == 7
    assert len(history(project, run.id, "valid_l2")) == 12
    assert any(k.startswith("importance.") for k in rec.metrics)


def test_sklearn_fit_logs_params_curves_and_importances(
    enabled: None, regression: Split, project: Project
) -> None:
    with shipyard.start_run(project=project) as run:
        GradientBoostingRegressor(n_estimators=20, random_state=0).fit(*regression.train)
    rec = shipyard.get_run(run.id, project=project)
    assert rec.params["n_estimators"] == 20
    assert len(history(project, run.id, "train_score")) == 20
    assert {f"importance.x{i}" for i in range(10)} <= set(rec.metrics)


def test_only_the_outermost_fit_logs(enabled: None, binary: Split, project: Project) -> None:
    search = GridSearchCV(
        RandomForestClassifier(n_estimators=5, random_state=0), {"max_depth": [2, 3]}, cv=2
    )
    with shipyard.start_run(project=project) as run:
        search.fit(*binary.train)
    rec = shipyard.get_run(run.id, project=project)
    assert rec.params["cv"] == 2 and rec.params["estimator__n_estimators"] == 5
    # the inner forests' importances would have been logged by their own fits
    assert not any(k.startswith("importance.") for k in rec.metrics)


def test_nothing_happens_outside_a_run_or_when_disabled(binary: Split, project: Project) -> None:
    original = xgboost.train
    autolog.enable(lightgbm=False, sklearn=False)
    assert xgboost.train is not original and xgboost.training.train is xgboost.train
    _xgb(binary)  # no run: would raise if it logged
    autolog.disable()
    assert xgboost.train is original and xgboost.sklearn.train is original  # type: ignore[attr-defined]
    assert not autolog.is_enabled()
    with shipyard.start_run(project=project) as run:
        _xgb(binary)
    assert shipyard.get_run(run.id, project=project).metrics == {}


def test_shipyard_trainers_do_not_log_twice(enabled: None, binary: Split, project: Project) -> None:
    with shipyard.start_run(project=project) as run:
        make_trainer("xgboost").fit(
            binary.train, binary.eval, {"num_boost_round": 10}, task="binary"
        )
    assert [s for s, _ in history(project, run.id, "eval_logloss")] == list(range(10))


def test_xgboost_sklearn_wrapper_is_logged_through_train(
    enabled: None, binary: Split, project: Project
) -> None:
    with shipyard.start_run(project=project) as run:
        xgboost.XGBClassifier(n_estimators=8, max_depth=2).fit(
            *binary.train, eval_set=[binary.eval], verbose=False
        )
    rec = shipyard.get_run(run.id, project=project)
    assert rec.params["max_depth"] == 2
    assert len(history(project, run.id, "validation_0_logloss")) == 8


STEP = """
import numpy as np
import xgboost
from shipyard import pipeline, step

@step
def fit() -> int:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    d = xgboost.DMatrix(X, label=(X[:, 0] > 0).astype(float))
    booster = xgboost.train({"objective": "binary:logistic"}, d, 5, evals=[(d, "train")])
    return booster.num_boosted_rounds()

@pipeline
def p():
    fit()
"""


def test_inside_a_pipeline_step(enabled: None, project: Project, project_dir: Path) -> None:
    # Inline: this test process has run OpenMP (XGBoost, LightGBM, scikit-learn) already,
    # and OpenMP hangs in a process forked after that, as the local executor's workers are.
    p = load(project_dir, "autolog_pipeline.py", STEP)
    run = shipyard.run(p, project=project, executor="inline")  # type: ignore[arg-type]
    assert run.status == "succeeded"
    assert [s for s, _ in history(project, run.id, "train_logloss")] == list(range(5))
    assert run.params["objective"] == "binary:logistic"
    assert np.isfinite(run.metrics["importance.f0"])
