"""Running a study: the journal, the trial worker processes, resuming, the result.

The study lives in an Optuna journal file at a path fixed by the run and the
step (``.shipyard/tune/<run_id>/<node>.journal``), so that ``shipyard run
--resume`` finds it again. Trials run in worker processes started afresh with
``python -m shipyard.tune._worker`` (fork + exec): a worker never inherits a
process that ran OpenMP (XGBoost, LightGBM, torch), which is not fork-safe.
Each worker asks Optuna for trials under a file lock until the study holds
``trials`` of them (finished, or running elsewhere) or the time budget is
spent, so the finished count ends equal to ``trials``.

Resuming: a trial left RUNNING by a killed process is marked failed with the
user attribute ``interrupted`` and not counted; finished trials are kept as
they are, and new trials take new numbers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, ShipyardError
from ._optuna import journal_storage
from ._records import INTERRUPTED, state_name, sync_children

if TYPE_CHECKING:
    import optuna

    from ..train.base import XY

__all__ = [
    "StudyResult",
    "StudySpec",
    "journal_path",
    "prepare_study",
    "run_study",
    "used_trials",
]


def journal_path(store_dir: Path, run_id: str, node: str) -> Path:
    """Where the journal of the study of step ``node`` in run ``run_id`` lives."""
    return store_dir / "tune" / run_id / f"{node}.journal"


@dataclass(frozen=True)
class StudySpec:
    """Everything a trial worker needs; written as JSON beside the arrays it trains on."""

    journal: str
    study: str  # the study's name: the tune step's node
    store_url: str
    parent_run: str
    parent_name: str
    train: dict[str, Any]  # the train section (TrainConfig as JSON, by alias)
    space: dict[str, Any]  # tune.space: name -> ParamSpec as JSON
    task: str
    num_classes: int | None
    feature_names: list[str]
    metric: str
    direction: str  # maximize or minimize
    trials: int
    workers: int = 1
    timeout_s: float | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    threshold: str | float = "f1"
    # Set by run_study for each launch of workers:
    deadline: float | None = None
    data: str = ""
    session: int = 0

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def load(cls, path: Path) -> StudySpec:
        return cls(**json.loads(path.read_text()))


@dataclass(frozen=True)
class StudyResult:
    """The outcome of a study: the best trial and how many trials ended how."""

    best_params: dict[str, Any]
    best_value: float
    best_number: int
    best_run: str | None
    counts: dict[str, int] = field(default_factory=dict)  # complete, pruned, failed, interrupted


def used_trials(study: optuna.Study) -> int:
    """Trials that count towards ``trials``: finished or running, not interrupted ones."""
    from optuna.trial import TrialState

    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state != TrialState.WAITING and not t.user_attrs.get(INTERRUPTED)
    )


def prepare_study(
    spec: StudySpec, train: XY, eval: XY, *, folder: Path
) -> tuple[optuna.Study, StudySpec]:
    """Save the arrays, create (or load) the study and close what a killed process left open.

    Returns the study and the spec its workers read (``data`` and ``deadline`` set).
    """
    import optuna

    from ..store.metadata import MetadataStore

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder.mkdir(parents=True, exist_ok=True)
    names = ("x_train", "y_train", "x_eval", "y_eval")
    for name, array in zip(names, (*train, *eval), strict=True):
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array))
    storage = journal_storage(Path(spec.journal))
    direction: Any = spec.direction
    study = optuna.create_study(
        storage=storage, study_name=spec.study, direction=direction, load_if_exists=True
    )
    if not study.user_attrs:
        for key in ("metric", "direction", "trials", "workers", "sampler", "pruner", "task"):
            study.set_user_attr(key, getattr(spec, key))
        study.set_user_attr("algorithm", spec.train.get("algorithm"))
        study.set_user_attr("parent_run", spec.parent_run)
    close_running(study, interrupted=True, reason="interrupted: the process running it stopped")
    store = MetadataStore(spec.store_url)
    try:
        sync_children(study, store, spec)
    finally:
        store.close()
    deadline = time.time() + spec.timeout_s if spec.timeout_s else None
    return study, dataclasses.replace(spec, deadline=deadline, data=str(folder))


def run_study(spec: StudySpec, train: XY, eval: XY, *, folder: Path) -> StudyResult:
    """Run (or resume) the study of ``spec`` on the given arrays; return its best trial.

    ``folder`` receives the arrays and the spec the workers read; the caller removes it.

    Raises
    ------
    ConfigError
        When a point of the space is refused by the trainer (checked by each worker
        before it starts any trial), naming ``tune.space.NAME``.
    ShipyardError
        When workers die without finishing trials, or no trial completes.
    """
    from ..store.metadata import MetadataStore

    study, spec = prepare_study(spec, train, eval, folder=folder)
    while True:
        used = used_trials(study)
        remaining = spec.trials - used
        if remaining <= 0 or (spec.deadline is not None and time.time() >= spec.deadline):
            break
        # The session salts the workers' sampler seeds: a relaunch draws new points.
        launch = dataclasses.replace(spec, session=len(study.trials))
        codes = _run_workers(launch, folder, min(spec.workers, remaining))
        _raise_worker_error(folder)
        died = close_running(
            study,
            interrupted=False,
            reason=f"the worker process running it died (exit codes {codes})",
        )
        if used_trials(study) == used and not died:
            raise ShipyardError(
                f"the trial workers of study {spec.study!r} exited (codes {codes}) without"
                " finishing a trial; see the step's log"
            )
    store = MetadataStore(spec.store_url)
    try:
        sync_children(study, store, spec)
    finally:
        store.close()
    return _result(study)


def close_running(study: optuna.Study, *, interrupted: bool, reason: str) -> int:
    """Mark the study's RUNNING trials failed (``interrupted`` ones are not counted)."""
    from optuna.trial import TrialState

    storage = study._storage  # noqa: SLF001 - the storage API is public, the attribute is not
    study_id = storage.get_study_id_from_name(study.study_name)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in running:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        if interrupted:
            storage.set_trial_user_attr(trial_id, INTERRUPTED, True)
        storage.set_trial_user_attr(trial_id, "error", reason)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    return len(running)


def _run_workers(spec: StudySpec, folder: Path, n: int) -> list[int]:
    """Start ``n`` workers and wait for them; kill them if this process is interrupted."""
    for old in folder.glob("error-*.json"):
        old.unlink()
    path = folder / f"study-{spec.session}.json"
    spec.save(path)
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(n):
            cmd = [
                sys.executable,
                "-m",
                "shipyard.tune._worker",
                str(path),
                str(index),
                str(n),
                str(os.getpid()),
            ]
            procs.append(subprocess.Popen(cmd, env=env))
        return [p.wait() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _raise_worker_error(folder: Path) -> None:
    for path in sorted(folder.glob("error-*.json")):
        error = json.loads(path.read_text())
        raise ConfigError(error["message"], field=error["field"])


def _result(study: optuna.Study) -> StudyResult:
    counts = {"complete": 0, "pruned": 0, "failed": 0, INTERRUPTED: 0}
    errors = []
    for t in study.get_trials(deepcopy=False):
        state = state_name(t)
        if state in counts:
            counts[state] += 1
        if state == "failed" and t.user_attrs.get("error"):
            errors.append(f"trial {t.number}: {t.user_attrs['error']}")
    if not counts["complete"]:
        first = f"; first error: {errors[0]}" if errors else ""
        raise ShipyardError(
            f"no trial of study {study.study_name!r} completed ({counts['failed']} failed,"
            f" {counts['pruned']} pruned){first}"
        )
    best = study.best_trial
    return StudyResult(
        best_params=dict(best.params),
        best_value=float(best.value if best.value is not None else float("nan")),
        best_number=best.number,
        best_run=best.user_attrs.get("run_id"),
        counts=counts,
    )
