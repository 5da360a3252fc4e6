"""Tuning: trials per minute with 1 and 2 workers, and the cost of a trial outside training.

Two measurements in one temporary project (its own SQLite metadata store):

- **scaling**: the same study (``--trials`` trials, TPE with the same seed, no
  pruner) of XGBoost trials whose cost is the same (``--rounds`` boosting
  rounds, depth 6, one thread, no early stopping, on the same synthetic data;
  only ``learning_rate``, ``reg_lambda`` and ``reg_alpha`` are searched), run by
  :func:`shipyard.tune.run_study` with 1 and then 2 worker processes. Trials per
  minute are counted over the whole call (worker start-up included) and over
  the trial phase (first trial start to last trial end, from the journal).
- **overhead per trial**: what a trial costs outside the model's own training
  (``fit_s``, measured around ``trainer.fit`` in the worker), with the trial
  recorded in the journal and as a child run: the worker loop run in this
  process, on the XGBoost trials and on trivial trials (a function trainer
  returning a fitted ``DummyClassifier``). Against, in the same run: plain
  Optuna with TPE on a trivial objective (three ``suggest_float``), in memory
  and with a journal file, ``--trivial`` trials each.

It is a measurement, not a test: it exits 0 when a goal is missed and says
MISSED. The last line of the output is one JSON object with every figure.

Usage::

    .venv/bin/python benchmarks/tune_scaling.py [--trials 40] [--rounds 150] [--trivial 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _report import print_table

GOAL_SPEEDUP = 1.7  # trials per minute, 2 workers over 1
GOAL_OVERHEAD_MS = 25.0  # per trial, outside the model's training, recorded in the store
SEED = 11
SPACE = {
    "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
    "reg_lambda": {"type": "float", "low": 0.01, "high": 10.0, "log": True},
    "reg_alpha": {"type": "float", "low": 0.001, "high": 1.0, "log": True},
}
TRIVIAL = """
from sklearn.dummy import DummyClassifier


def train(train, eval, params):
    return DummyClassifier(strategy="prior").fit(*train)
"""


def data(rows: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=20, n_informative=10, random_state=0)
    cut = int(rows * 0.8)
    x = x.astype(np.float32)
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


class Bench:
    """A temporary project with a parent run per study."""

    def __init__(self, folder: Path) -> None:
        from shipyard.pipeline.project import Project

        self.folder = folder
        (folder / "shipyard.yaml").write_text("project:\n  name: tune-bench\n")
        self.project = Project.discover(folder)

    def spec(self, label: str, train: dict[str, Any], trials: int, workers: int) -> Any:
        from shipyard.config import TrainConfig
        from shipyard.tune import StudySpec, journal_path

        parent, name = self.project.metadata.create_run(
            pipeline="bench", source="", seed=SEED, params={}, name=f"bench-{label}"
        )
        return StudySpec(
            journal=str(journal_path(self.project.store_dir, parent, "tune_model")),
            study="tune_model",
            store_url=self.project.store_url,
            parent_run=parent,
            parent_name=name,
            train=TrainConfig.model_validate(train).model_dump(mode="json", by_alias=True),
            space=SPACE,
            task="binary",
            num_classes=2,
            feature_names=[f"f{i}" for i in range(20)],
            metric="log_loss",
            direction="minimize",
            trials=trials,
            workers=workers,
            sampler="tpe",
            pruner="none",
            seed=SEED,
        )

    def fit_seconds(self, spec: Any) -> list[float]:
        runs = self.project.metadata.list_runs(parent=spec.parent_run)
        return [r["metrics"]["fit_s"] for r in runs]


def xgboost_train(rounds: int) -> dict[str, Any]:
    params = {"num_boost_round": rounds, "max_depth": 6, "nthread": 1}
    return {"algorithm": "xgboost", "params": params}


def trial_phase(spec: Any) -> float:
    """First trial start to last trial end, from the journal."""
    import optuna

    from shipyard.tune._optuna import journal_storage

    study = optuna.load_study(study_name=spec.study, storage=journal_storage(Path(spec.journal)))
    starts = [t.datetime_start for t in study.trials if t.datetime_start]
    ends = [t.datetime_complete for t in study.trials if t.datetime_complete]
    return (max(ends) - min(starts)).total_seconds()


def measure_scaling(
    bench: Bench, arrays: Any, trials: int, rounds: int, workers: int
) -> dict[str, float]:
    from shipyard.tune import run_study

    spec = bench.spec(f"scaling-{workers}", xgboost_train(rounds), trials, workers)
    start = time.perf_counter()
    result = run_study(spec, *arrays, folder=bench.folder / f"data-{workers}")
    wall = time.perf_counter() - start
    if result.counts["complete"] != trials:
        raise RuntimeError(f"expected {trials} complete trials, got {result.counts}")
    fits = bench.fit_seconds(spec)
    phase = trial_phase(spec)
    return {
        "wall_s": wall,
        "trial_phase_s": phase,
        "trials_per_min": 60 * trials / wall,
        "phase_trials_per_min": 60 * trials / phase,
        "mean_fit_s": statistics.fmean(fits),
        "best_value": result.best_value,
    }


def measure_overhead(
    bench: Bench, arrays: Any, train: dict[str, Any], trials: int, label: str
) -> dict[str, float]:
    """The worker loop in this process: (loop time - training time) per trial."""
    from shipyard.tune._worker import run_worker
    from shipyard.tune.study import prepare_study

    spec = bench.spec(label, train, trials, 1)
    _, spec = prepare_study(spec, *arrays, folder=bench.folder / f"data-{label}")
    start = time.perf_counter()
    ran = run_worker(spec, 0, store=bench.project.metadata)
    loop = time.perf_counter() - start
    if ran != trials:
        raise RuntimeError(f"the worker ran {ran} trials, expected {trials}")
    fit = sum(bench.fit_seconds(spec))
    return {"per_trial_ms": 1000 * loop / trials, "overhead_ms": 1000 * (loop - fit) / trials}


def measure_plain_optuna(folder: Path, trials: int) -> dict[str, float]:
    """TPE on a trivial objective: in memory, and with a journal file."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        return sum(trial.suggest_float(k, v["low"], v["high"], log=True) for k, v in SPACE.items())

    out = {}
    for label, storage in (
        ("memory", None),
        ("journal", JournalStorage(JournalFileBackend(str(folder / "plain.journal")))),
    ):
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=SEED))
        start = time.perf_counter()
        study.optimize(objective, n_trials=trials)
        out[label] = 1000 * (time.perf_counter() - start) / trials
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=40, help="trials of the scaling study")
    parser.add_argument("--rounds", type=int, default=150, help="boosting rounds per trial")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the synthetic data")
    parser.add_argument("--trivial", type=int, default=200, help="trials of the trivial studies")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project folder")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="shipyard-tune-bench-"))
    load_before = os.getloadavg()[0]
    arrays = data(args.rows)
    try:
        bench = Bench(folder)
        (folder / "trivial.py").write_text(TRIVIAL)
        print(
            f"tune_scaling: {args.trials} XGBoost trials ({args.rounds} rounds, 1 thread,"
            f" {args.rows:,} rows x 20), TPE seed {SEED}; {args.trivial} trivial trials"
        )
        print(f"  project {folder}")
        one = measure_scaling(bench, arrays, args.trials, args.rounds, 1)
        two = measure_scaling(bench, arrays, args.trials, args.rounds, 2)
        xgb = measure_overhead(bench, arrays, xgboost_train(args.rounds), args.trials, "xgb")
        trivial_train = {"algorithm": "function", "function": f"{folder / 'trivial.py'}:train"}
        trivial = measure_overhead(bench, arrays, trivial_train, args.trivial, "trivial")
        plain = measure_plain_optuna(folder, args.trivial)
    finally:
        if args.keep:
            print(f"  kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    speedup = two["trials_per_min"] / one["trials_per_min"]
    phase_speedup = two["phase_trials_per_min"] / one["phase_trials_per_min"]
    speedup_met = speedup >= GOAL_SPEEDUP
    overhead_met = max(xgb["overhead_ms"], trivial["overhead_ms"]) < GOAL_OVERHEAD_MS

    def status(met: bool) -> str:
        return "met" if met else "MISSED"

    print()
    print("scaling: the same study with 1 and 2 worker processes")
    print_table(
        [
            ["figure", "1 worker", "2 workers", "2 / 1", "goal", ""],
            [
                "trials per minute, whole call",
                f"{one['trials_per_min']:.1f}",
                f"{two['trials_per_min']:.1f}",
                f"{speedup:.2f}x",
                f">= {GOAL_SPEEDUP:g}x",
                status(speedup_met),
            ],
            [
                "trials per minute, trial phase",
                f"{one['phase_trials_per_min']:.1f}",
                f"{two['phase_trials_per_min']:.1f}",
                f"{phase_speedup:.2f}x",
                "",
                "",
            ],
            ["wall time", f"{one['wall_s']:.2f} s", f"{two['wall_s']:.2f} s", "", "", ""],
            [
                "mean training time of a trial",
                f"{one['mean_fit_s'] * 1000:.0f} ms",
                f"{two['mean_fit_s'] * 1000:.0f} ms",
                "",
                "",
                "",
            ],
            [
                "best log_loss",
                f"{one['best_value']:.4f}",
                f"{two['best_value']:.4f}",
                "",
                "",
                "",
            ],
        ]
    )
    print()
    print("cost of a trial outside the model's training (TPE, 3 float params)")
    print_table(
        [
            ["figure", "per trial", "outside training", "goal", ""],
            [
                f"shipyard, {args.trials} XGBoost trials (journal + child run)",
                f"{xgb['per_trial_ms']:.1f} ms",
                f"{xgb['overhead_ms']:.1f} ms",
                f"< {GOAL_OVERHEAD_MS:g} ms",
                status(xgb["overhead_ms"] < GOAL_OVERHEAD_MS),
            ],
            [
                f"shipyard, {args.trivial} trivial trials (journal + child run)",
                f"{trivial['per_trial_ms']:.1f} ms",
                f"{trivial['overhead_ms']:.1f} ms",
                f"< {GOAL_OVERHEAD_MS:g} ms",
                status(trivial["overhead_ms"] < GOAL_OVERHEAD_MS),
            ],
            [
                f"plain optuna, in memory, {args.trivial} trivial trials",
                f"{plain['memory']:.1f} ms",
                "",
                "",
                "",
            ],  # fmt: skip
            [
                f"plain optuna, journal file, {args.trivial} trivial trials",
                f"{plain['journal']:.1f} ms",
                "",
                "",
                "",
            ],  # fmt: skip
        ]
    )
    if not speedup_met:
        print(
            f"MISSED: 2 workers ran {speedup:.2f}x the trials per minute of 1 (goal {GOAL_SPEEDUP}x)"
        )
    if not overhead_met:
        print(f"MISSED: overhead per trial above {GOAL_OVERHEAD_MS:g} ms")
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(
            f"note: load average {load_before:.2f} at the start: other work shared the CPUs,"
            " so the figures are pessimistic"
        )
    figures = {
        "benchmark": "tune_scaling",
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": round(load_before, 2),
        "trials": args.trials,
        "rounds": args.rounds,
        "rows": args.rows,
        "trivial_trials": args.trivial,
        "one_worker": {k: round(v, 4) for k, v in one.items()},
        "two_workers": {k: round(v, 4) for k, v in two.items()},
        "speedup": round(speedup, 3),
        "phase_speedup": round(phase_speedup, 3),
        "overhead_xgboost_ms": round(xgb["overhead_ms"], 2),
        "overhead_trivial_ms": round(trivial["overhead_ms"], 2),
        "per_trial_trivial_ms": round(trivial["per_trial_ms"], 2),
        "plain_optuna_memory_ms": round(plain["memory"], 2),
        "plain_optuna_journal_ms": round(plain["journal"], 2),
        "speedup_met": speedup_met,
        "overhead_met": overhead_met,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
