"""What Shipyard hands Optuna: samplers and pruners by name, the journal, and the pruning hook."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = ["CurveReporter", "FileLock", "journal_storage", "make_pruner", "make_sampler"]

# Curves whose larger values are better; every other curve is a loss or an error.
_HIGHER = frozenset(
    {"auc", "aucpr", "pr_auc", "map", "ndcg", "accuracy", "r2", "average_precision"}
)
# A pruner needs no point of every round: the first rounds, then every fifth, keeps a
# journal write per point from costing as much as a boosting round on small data.
_DENSE_STEPS = 20
_EVERY = 5
# Rounds (epochs) before the median pruner may stop a trial: early curves cross.
_WARMUP_STEPS = 10


class FileLock:
    """An exclusive ``flock`` on a file, released by the kernel when its holder dies.

    Optuna's own journal locks are files that a killed process leaves behind, and
    the next writer waits out a 30 s grace period; ``kill -9`` is a case we resume from.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


def journal_storage(path: Path) -> optuna.storages.BaseStorage:
    """The Optuna journal at ``path``: the study's record, shared by its worker processes."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path.parent.mkdir(parents=True, exist_ok=True)
    repair_tail(path)
    lock: Any = FileLock(path.with_name(path.name + ".lock"))
    return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))


def repair_tail(path: Path) -> None:
    """Cut a last line that a killed writer left without its newline.

    Optuna skips such a line when reading, but the next append would glue its own
    line to it and make both unreadable.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        f.truncate(data.rfind(b"\n") + 1)
        f.flush()
        os.fsync(f.fileno())


def worker_seed(seed: int, worker: int, session: int) -> int:
    """The sampler seed of one worker: different for each worker and each resumed session,
    so that no two of them draw the same random starting points."""
    digest = hashlib.sha256(f"{seed}:{worker}:{session}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31)


def make_sampler(
    name: str, seed: int, *, grid: Mapping[str, Sequence[Any]] | None = None
) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` in ``tune.sampler``, seeded."""
    import optuna

    if name == "tpe":
        # constant_liar: a running trial counts as a poor result, so parallel workers
        # do not all sample around the same best point.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(dict(grid or {}), seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}")  # the config allows only the names above


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """The pruner called ``name`` in ``tune.pruner``."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=_WARMUP_STEPS)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=_WARMUP_STEPS)
    return optuna.pruners.NopPruner()


def reported(step: int) -> bool:
    """Whether the curve point of ``step`` goes to the pruner (the same steps in every trial)."""
    return step < _DENSE_STEPS or step % _EVERY == _EVERY - 1


class CurveReporter:
    """Sends a trainer's eval curve to an Optuna trial; raises ``TrialPruned`` when told to.

    The curve is the first ``eval_*`` key the trainer records (its loss: ``eval_logloss``,
    ``eval_binary_logloss``, ``eval_rmse`` ...). Values are reported in the study's
    direction (a loss is negated when the study maximises), as the pruner compares them
    with other trials' values at the same step.
    """

    def __init__(self, trial: optuna.Trial, maximize: bool) -> None:
        self.trial = trial
        self.maximize = maximize
        self.key: str | None = None
        self.sign = 1.0
        self.last: tuple[int, float] | None = None

    def __call__(self, key: str, value: float, step: int) -> None:
        if self.key is None:
            if not key.startswith("eval_"):
                return
            self.key = key
            higher = key.removeprefix("eval_").split("@")[0] in _HIGHER
            self.sign = 1.0 if higher == self.maximize else -1.0
        if key != self.key or not reported(step) or not math.isfinite(value):
            return
        import optuna

        self.trial.report(self.sign * value, step)
        self.last = (step, value)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}: {key}={value:.6g}")
