"""A trial worker: ``python -m shipyard.tune._worker SPEC INDEX COUNT PARENT_PID``.

Started afresh by :func:`~shipyard.tune.study.run_study` (never forked from a
process that may have run OpenMP). It checks the space against the trainer
before any trial, then asks the shared journal for trials until the study has
enough, trains each one with the pruning hook listening to the trainer's
curves, and records each one in the journal and then as a child run.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ._optuna import (
    CurveReporter,
    FileLock,
    journal_storage,
    make_pruner,
    make_sampler,
    worker_seed,
)
from ._records import finish_child, start_child
from .space import Param, build_space, check_points, grid_space, suggest
from .study import StudySpec, used_trials

if TYPE_CHECKING:
    import optuna

    from ..store.metadata import MetadataStore
    from ..train.base import Trainer

__all__ = ["main", "objective_value", "run_worker"]

_PR_SET_PDEATHSIG = 1
# Metrics of a binary model that need a label threshold; it is chosen on the eval rows
# by evaluate.threshold, as the evaluate step does.
_THRESHOLD_METRICS = frozenset({"accuracy", "f1", "precision", "recall"})


@dataclass(frozen=True)
class _Setup:
    spec: StudySpec
    space: list[Param]
    trainer: Trainer
    base: dict[str, Any]  # train.params, under the sampled params
    early_stopping_rounds: int | None
    device: str
    train: tuple[np.ndarray, np.ndarray]
    eval: tuple[np.ndarray, np.ndarray]


def main(argv: list[str] | None = None) -> int:
    """Run one worker; exit code 3 (and ``error-INDEX.json``) for a ConfigError."""
    args = sys.argv[1:] if argv is None else argv
    spec_path, index, count, parent = Path(args[0]), int(args[1]), int(args[2]), int(args[3])
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle
    spec = StudySpec.load(spec_path)
    _share_cpus(index, count)
    try:
        run_worker(spec, index)
    except ConfigError as exc:
        error = {"message": exc.detail, "field": exc.field}
        (spec_path.parent / f"error-{index}.json").write_text(json.dumps(error))
        return 3
    return 0


def run_worker(spec: StudySpec, index: int = 0, *, store: MetadataStore | None = None) -> int:
    """Check the space, then run trials until the study has enough; return how many ran here.

    Raises
    ------
    ConfigError
        When the trainer refuses a point of the space (before any trial starts).
    """
    import optuna

    from ..config import TrainConfig
    from ..store.metadata import MetadataStore
    from ..train import from_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    space = build_space(spec.space)
    cfg = TrainConfig.model_validate(spec.train)
    trainer = from_config(cfg)
    base = dict(cfg.params)
    for point in check_points(space):
        _validate(trainer, base, point, spec)
    folder = Path(spec.data)
    arrays = [np.load(folder / f"{n}.npy") for n in ("x_train", "y_train", "x_eval", "y_eval")]
    setup = _Setup(
        spec,
        space,
        trainer,
        base,
        cfg.early_stopping_rounds,
        cfg.device,
        (arrays[0], arrays[1]),
        (arrays[2], arrays[3]),
    )
    grid = grid_space(space) if spec.sampler == "grid" else None
    study = optuna.load_study(
        study_name=spec.study,
        storage=journal_storage(Path(spec.journal)),
        sampler=make_sampler(spec.sampler, worker_seed(spec.seed, index, spec.session), grid=grid),
        pruner=make_pruner(spec.pruner),
    )
    own_store = store is None
    store = store or MetadataStore(spec.store_url)
    lock = FileLock(Path(spec.journal + ".ask.lock"))
    ran = 0
    try:
        while (trial := _next_trial(study, spec, lock)) is not None:
            run_trial(study, trial, setup, store)
            ran += 1
    finally:
        if own_store:
            store.close()
    return ran


def _validate(
    trainer: Trainer, base: dict[str, Any], point: dict[str, Any], spec: StudySpec
) -> None:
    """The trainer's own check of one point; an error about a searched param names tune.space."""
    try:
        trainer.validate({**base, **point}, spec.task, num_classes=spec.num_classes)  # type: ignore[arg-type]
    except ConfigError as exc:
        name = (exc.field or "").removeprefix("train.params.")
        if name in point:
            raise ConfigError(
                f"{exc.detail} (checked with {name}={point[name]!r} from the search space)",
                field=f"tune.space.{name}",
            ) from None
        raise


def _next_trial(study: optuna.Study, spec: StudySpec, lock: FileLock) -> optuna.Trial | None:
    # Count and ask under one lock: two workers never both take the last trial.
    with lock.held():
        if spec.deadline is not None and time.time() >= spec.deadline:
            return None
        if used_trials(study) >= spec.trials:
            return None
        return study.ask()


def run_trial(
    study: optuna.Study, trial: optuna.Trial, setup: _Setup, store: MetadataStore
) -> None:
    """Train one trial, tell the journal, then finish its child run."""
    import optuna
    from optuna.trial import TrialState

    from ..pipeline.context import STEP, StepContext
    from ..train._tracking import listening

    spec = setup.spec
    params = suggest(trial, setup.space)
    child = start_child(store, spec, trial.number, params)
    trial.set_user_attr("run_id", child)
    # A step context of its own: the trainer's curves and params are buffered in it
    # and written with the trial's end, in one transaction.
    ctx = StepContext(run_id=child, node=f"trial-{trial.number}", seed=spec.seed)
    value: float | None = None
    error: str | None = None
    state = TrialState.COMPLETE
    token = STEP.set(ctx)
    started = time.perf_counter()
    try:
        with listening(CurveReporter(trial, maximize=spec.direction == "maximize")):
            model = setup.trainer.fit(
                setup.train,
                setup.eval,
                {**setup.base, **params},
                task=spec.task,  # type: ignore[arg-type]
                num_classes=spec.num_classes,
                feature_names=spec.feature_names,
                seed=spec.seed,
                early_stopping_rounds=setup.early_stopping_rounds,
                device=setup.device,
            )
        fit_s = time.perf_counter() - started
        value = objective_value(spec, setup.eval[1], model.predict(setup.eval[0]))
        if not math.isfinite(value):
            raise ValueError(f"metric {spec.metric!r} is {value} on the eval split")
    except optuna.TrialPruned:
        fit_s = time.perf_counter() - started
        state, value = TrialState.PRUNED, None
    except Exception as exc:  # noqa: BLE001 - a failed trial is recorded; the study goes on
        fit_s = time.perf_counter() - started
        state, value, error = TrialState.FAIL, None, f"{type(exc).__name__}: {exc}"
        print(f"trial {trial.number} failed:", file=sys.stderr)
        traceback.print_exc()
    finally:
        STEP.reset(token)
    if error is not None:
        trial.set_user_attr("error", error[:2000])
    if state == TrialState.COMPLETE:
        study.tell(trial, value)
    else:
        study.tell(trial, state=state)
    finish_child(
        store,
        child,
        state={TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(state, "failed"),
        metric=spec.metric,
        value=value,
        curves=ctx.metrics,
        fit_s=fit_s,
        error=error,
    )


def objective_value(spec: StudySpec, y: np.ndarray, score: np.ndarray) -> float:
    """The study's metric of one trial's predictions on the eval rows."""
    from ..evaluate.metrics import compute_metrics
    from ..evaluate.threshold import choose_threshold

    threshold = 0.5
    if spec.task == "binary" and spec.metric in _THRESHOLD_METRICS:
        threshold = choose_threshold(y, score, spec.threshold)
    return compute_metrics(spec.task, y, score, metrics=[spec.metric], threshold=threshold)[
        spec.metric
    ]


def _die_with(parent: int) -> None:
    """Ask Linux to kill this worker when the process that started it dies (kill -9 included)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _share_cpus(index: int, count: int) -> None:
    """Give each of ``count`` workers its own share of the CPUs.

    Trainers size their thread pools by the CPUs a process may use, so two workers
    that each took every CPU would run twice as many threads as there are cores.
    """
    if count <= 1 or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    mine = cpus[index::count] if count <= len(cpus) else [cpus[index % len(cpus)]]
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, mine)


if __name__ == "__main__":
    sys.exit(main())
