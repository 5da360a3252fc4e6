"""The pruning hook: trainers' curves reach a listener, which can stop the training."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from shipyard.train import make_trainer
from shipyard.train._tracking import listening
from shipyard.tune._optuna import CurveReporter

from .conftest import cancer


class _Stop(Exception):
    pass


@pytest.mark.parametrize(
    ("algorithm", "params", "key"),
    [
        ("xgboost", {"num_boost_round": 50, "nthread": 1}, "eval_logloss"),
        (
            "lightgbm",
            {"num_iterations": 50, "num_threads": 1, "verbose": -1},
            "eval_binary_logloss",
        ),
        ("torch", {"epochs": 20, "num_threads": 1}, "eval_logloss"),
    ],
)
def test_each_trainer_reports_its_eval_curve_and_stops_when_the_listener_raises(
    algorithm: str, params: dict[str, object], key: str
) -> None:
    pytest.importorskip(algorithm)
    data = cancer()
    seen: list[tuple[str, int]] = []

    def listener(name: str, value: float, step: int) -> None:
        seen.append((name, step))
        assert np.isfinite(value)
        if name == key and step == 3:
            raise _Stop

    trainer = make_trainer(algorithm)
    with listening(listener), pytest.raises(_Stop):
        trainer.fit(data.train, data.eval, params, task="binary", seed=0)
    assert (key, 3) in seen and max(step for _, step in seen) == 3


def test_the_reporter_reports_in_the_study_direction_and_prunes() -> None:
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
    )
    good = study.ask()
    reporter = CurveReporter(good, maximize=True)
    for step in range(5):
        reporter("train_logloss", 9.0, step)  # not an eval curve: ignored
        reporter("eval_logloss", 0.1, step)  # a loss: reported negated for a maximised study
    study.tell(good, 0.99)
    assert study.trials[0].intermediate_values == {s: -0.1 for s in range(5)}
    bad = study.ask()
    reporter = CurveReporter(bad, maximize=True)
    with pytest.raises(optuna.TrialPruned):
        for step in range(5):
            reporter("eval_logloss", 0.9, step)
