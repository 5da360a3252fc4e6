"""The tune step of the standard pipeline: search, then hand the best params to training."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import Any

from ..data.dataset import Dataset
from ..errors import ConfigError
from ..pipeline.context import (
    STEP,
    current_seed,
    log_metric,
    log_param,
    mark_inexact,
    scratch_dir,
)
from ..pipeline.step import step

__all__ = ["REPRODUCE_TOLERANCE", "resolve_objective", "tune_model"]

REPRODUCE_TOLERANCE = 0.02
"""Relative difference of the best value that ``shipyard reproduce`` accepts from a study
that cannot repeat exactly (``tune.workers`` > 1 or ``tune.timeout_s``)."""


def resolve_objective(
    metric: str | None, direction: str | None, task: str, evaluate_metrics: Sequence[str] = ()
) -> tuple[str, str]:
    """The metric a study optimises and its direction.

    ``metric`` None: the first of ``evaluate_metrics``, else the task's primary
    metric; ``direction`` None: from the metric.

    Raises
    ------
    ConfigError
        For a metric the task does not produce (field ``tune.metric``), listing the valid ones.
    """
    from ..evaluate.metrics import higher_is_better, metric_names, unknown_metric

    valid = metric_names(task)
    name = metric or (evaluate_metrics[0] if evaluate_metrics else valid[0])
    if name not in valid:
        field = "tune.metric" if metric else "evaluate.metrics[0]"
        raise ConfigError(unknown_metric(task, name, valid), field=field)
    if direction is None:
        direction = "maximize" if higher_is_better(name, task) else "minimize"
    return name, direction


@step(packages=("optuna", "xgboost-cpu", "lightgbm", "scikit-learn", "torch"))
def tune_model(
    dataset: Dataset,
    transform: Any,
    tune: dict[str, Any],
    train: dict[str, Any],
    target: str,
    task: str = "auto",
    metrics: list[str] | None = None,
    threshold: str | float = "f1",
    root: str = ".",
) -> dict[str, Any]:
    """Search ``tune.space`` on the eval split; return ``train`` with the best params merged in.

    Trials run in worker processes and are recorded in an Optuna journal under
    ``.shipyard/tune/<run>/<node>.journal`` and as child runs of this run. A run
    resumed with ``--resume`` continues the same study.
    """
    from ..config import TuneConfig
    from ..pipeline.project import Project
    from ..train.steps import features_and_labels, infer_task
    from .space import build_space, grid_size, grid_space
    from .study import StudySpec, journal_path, run_study

    cfg = TuneConfig.model_validate(tune)
    task_name, num_classes = infer_task(dataset, target, task)
    metric, direction = resolve_objective(cfg.metric, cfg.direction, task_name, metrics or ())
    space = build_space(cfg.space)  # errors Optuna would raise, before any trial
    trials = cfg.trials
    if cfg.sampler == "grid":
        trials = min(trials, grid_size(grid_space(space)))
    if cfg.sampler == "cmaes":
        _require("cmaes", "tune.sampler", "sampler 'cmaes'")
    if "eval" not in dataset.splits or dataset.num_rows("eval") == 0:
        raise ConfigError(
            "tuning scores trials on the eval split, and it is empty; set data.splits.eval > 0",
            field="tune",
        )
    x_train, y_train = features_and_labels(transform, dataset, "train", target, task_name)
    x_eval, y_eval = features_and_labels(transform, dataset, "eval", target, task_name)
    ctx = STEP.get()
    if ctx is None:
        raise ConfigError("tune_model runs only as a step of a pipeline run", field="tune")
    project = Project.discover(root)
    parent = project.metadata.resolve_run(ctx.run_id)
    spec = StudySpec(
        journal=str(journal_path(project.store_dir, ctx.run_id, ctx.node)),
        study=ctx.node,
        store_url=project.store_url,
        parent_run=ctx.run_id,
        parent_name=parent["name"],
        train=train,
        space={k: v.model_dump(mode="json") for k, v in cfg.space.items()},
        task=task_name,
        num_classes=num_classes,
        feature_names=list(transform.feature_names),
        metric=metric,
        direction=direction,
        trials=trials,
        workers=cfg.workers,
        timeout_s=cfg.timeout_s,
        sampler=cfg.sampler,
        pruner=cfg.pruner,
        seed=current_seed(),
        threshold=threshold,
    )
    folder = scratch_dir()
    try:
        result = run_study(spec, (x_train, y_train), (x_eval, y_eval), folder=folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    log_metric(f"tune.best_{metric}", result.best_value)
    log_metric("tune.best_trial", result.best_number)
    for state, count in result.counts.items():
        log_metric(f"tune.trials_{state}", count)
    log_param("tune.best_params", result.best_params)
    if cfg.workers > 1 or cfg.timeout_s is not None:
        # Which trials run, and so the best one, depends on timing: `reproduce` compares
        # the best value within a tolerance instead of the output's digest.
        mark_inexact([f"tune.best_{metric}"], REPRODUCE_TOLERANCE)
    print(f"best trial {result.best_number}: {metric}={result.best_value:.6g} {result.best_params}")
    return {**train, "params": {**train.get("params", {}), **result.best_params}}


def _require(package: str, field: str, what: str) -> None:
    from importlib.util import find_spec

    if find_spec(package) is None:
        raise ConfigError(
            f"{what} needs the {package!r} package, which is not installed (pip install {package})",
            field=field,
        )
