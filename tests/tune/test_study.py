"""Studies run through run_study: real Optuna, real worker processes, a real metadata store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shipyard.errors import ConfigError
from shipyard.pipeline.project import Project
from shipyard.tune import run_study

from .conftest import cancer, friedman, load_study, make_spec

XGB_SPACE = {
    "max_depth": {"type": "int", "low": 1, "high": 8},
    "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
    "num_boost_round": {"type": "int", "low": 50, "high": 400},
    "min_child_weight": {"type": "float", "low": 0.5, "high": 20, "log": True},
}


def test_a_seeded_study_beats_the_defaults_beyond_the_bootstrap_noise(
    project: Project, parent: tuple[str, str], tmp_path: Path
) -> None:
    from shipyard.evaluate import compute_metrics, paired_bootstrap
    from shipyard.train import make_trainer

    data = friedman()
    spec = make_spec(
        project,
        parent,
        data,
        train={"algorithm": "xgboost", "params": {"nthread": 1}},
        space=XGB_SPACE,
        metric="rmse",
        direction="minimize",
        trials=30,
        seed=7,
    )
    result = run_study(spec, data.train, data.eval, folder=tmp_path / "data")
    assert result.counts["complete"] + result.counts["pruned"] == 30
    trainer = make_trainer("xgboost")
    x_eval, y_eval = data.eval

    def predict(params: dict[str, object]) -> np.ndarray:
        model = trainer.fit(
            data.train, data.eval, {"nthread": 1, **params}, task="regression", seed=spec.seed
        )
        return model.predict(x_eval)

    tuned, default = predict(result.best_params), predict({})
    # The study's own record of the best trial is what training with its params gives.
    rmse = compute_metrics("regression", y_eval, tuned, metrics=["rmse"])["rmse"]
    assert rmse == pytest.approx(result.best_value, rel=1e-6)
    delta = paired_bootstrap("regression", y_eval, tuned, default, "rmse", n=1000, seed=0)
    half_width = (delta.high - delta.low) / 2
    assert delta.delta > half_width > 0, (delta, result.best_params)
    # Every trial is a child run of the parent run with its params, state and metric.
    children = project.metadata.list_runs(parent=parent[0])
    assert len(children) == 30
    by_state = {r["tags"]["tune.state"] for r in children}
    assert by_state <= {"complete", "pruned"}
    for run in children:
        assert set(run["params"]) == set(XGB_SPACE)
        assert run["status"] == "succeeded" and run["ended_at"] is not None
        assert "fit_s" in run["metrics"] and "eval_rmse" in run["metrics"]  # its curve
        if run["tags"]["tune.state"] == "complete":
            assert run["metrics"]["rmse"] >= result.best_value
        else:
            assert "rmse" not in run["metrics"]


def test_a_trial_that_raises_is_recorded_as_failed_and_the_study_goes_on(
    project: Project, parent: tuple[str, str], tmp_path: Path
) -> None:
    code = (
        "from sklearn.tree import DecisionTreeClassifier\n"
        "def train(train, eval, params):\n"
        "    if params['max_depth'] >= 6:\n"
        "        raise RuntimeError(f\"depth {params['max_depth']} is too deep\")\n"
        "    return DecisionTreeClassifier(max_depth=params['max_depth'], random_state=0)"
        ".fit(*train)\n"
    )
    (tmp_path / "train_fn.py").write_text(code)
    data = cancer()
    spec = make_spec(
        project,
        parent,
        data,
        train={"algorithm": "function", "function": f"{tmp_path / 'train_fn.py'}:train"},
        space={"max_depth": {"type": "int", "low": 1, "high": 10}},
        metric="roc_auc",
        direction="maximize",
        trials=12,
        sampler="random",
        pruner="none",
    )
    result = run_study(spec, data.train, data.eval, folder=tmp_path / "data")
    study = load_study(spec.journal)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert failed and result.counts["failed"] == len(failed)
    assert len(study.trials) == 12 and result.counts["complete"] == 12 - len(failed)
    assert result.best_params["max_depth"] < 6
    runs = {r["tags"]["tune.trial"]: r for r in project.metadata.list_runs(parent=parent[0])}
    for t in failed:
        run = runs[str(t.number)]
        assert run["status"] == "failed" and run["tags"]["tune.state"] == "failed"
        assert "RuntimeError: depth" in run["error"] and "too deep" in t.user_attrs["error"]
        assert t.params["max_depth"] >= 6


def test_an_unknown_param_name_is_a_config_error_before_any_trial(
    project: Project, parent: tuple[str, str], tmp_path: Path
) -> None:
    data = cancer()
    spec = make_spec(
        project,
        parent,
        data,
        train={"algorithm": "xgboost"},
        space={"max_dpeth": {"type": "int", "low": 2, "high": 6}},
        metric="roc_auc",
        direction="maximize",
        trials=5,
        workers=2,
    )
    with pytest.raises(ConfigError) as caught:
        run_study(spec, data.train, data.eval, folder=tmp_path / "data")
    assert caught.value.field == "tune.space.max_dpeth"
    assert "did you mean 'max_depth'" in str(caught.value)
    assert load_study(spec.journal).trials == []
    assert project.metadata.list_runs(parent=parent[0]) == []


def test_a_value_the_trainer_refuses_names_the_space_field(
    project: Project, parent: tuple[str, str], tmp_path: Path
) -> None:
    data = cancer()
    spec = make_spec(
        project,
        parent,
        data,
        train={"algorithm": "xgboost"},
        space={"subsample": {"type": "float", "low": 0.5, "high": 1.5}},
        metric="roc_auc",
        direction="maximize",
        trials=5,
    )
    with pytest.raises(ConfigError) as caught:
        run_study(spec, data.train, data.eval, folder=tmp_path / "data")
    assert caught.value.field == "tune.space.subsample"
    assert "subsample=1.5" in str(caught.value)


def test_a_time_budget_stops_starting_trials(
    project: Project, parent: tuple[str, str], tmp_path: Path
) -> None:
    code = "import time\nfrom sklearn.dummy import DummyClassifier\n"
    code += "def train(train, eval, params):\n    time.sleep(0.3)\n"
    code += "    return DummyClassifier().fit(*train)\n"
    (tmp_path / "slow.py").write_text(code)
    data = cancer()
    spec = make_spec(
        project,
        parent,
        data,
        train={"algorithm": "function", "function": f"{tmp_path / 'slow.py'}:train"},
        space={"x": {"type": "float", "low": 0, "high": 1}},
        metric="log_loss",
        direction="minimize",
        trials=500,
        timeout_s=3.0,
    )
    result = run_study(spec, data.train, data.eval, folder=tmp_path / "data")
    study = load_study(spec.journal)
    assert 1 <= len(study.trials) < 500
    assert all(t.state.is_finished() for t in study.trials)
    assert result.counts["complete"] == len(study.trials)
    assert json.loads(json.dumps(result.best_params))  # plain JSON, for the train step
