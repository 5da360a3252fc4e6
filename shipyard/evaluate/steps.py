"""The evaluate step: metrics, slices and the gate against the production model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import Dataset
from ..pipeline.context import current_seed, log_metric, scratch_dir
from ..pipeline.step import step

__all__ = ["evaluate_model"]


def _production(
    root: str, model_name: str | None, alias: str | None, dataset: Dataset, target: str, task: str
) -> tuple[np.ndarray | None, float | None, str | None]:
    """Scores of the model at ``model_name@alias`` on the same eval rows, with its own transform."""
    if not model_name or not alias:
        return None, None, None
    from ..errors import ReferenceError_
    from ..pipeline.materializers import load_value
    from ..pipeline.project import Project
    from ..registry import Registry
    from ..train.steps import features_and_labels

    project = Project.discover(root)
    try:
        version = Registry(project).get(f"{model_name}@{alias}")
    except ReferenceError_:
        return None, None, None
    from ..bundle import Bundle

    value = load_value(version.artifact, project.artifacts)  # its files' digests checked
    if isinstance(value, Bundle):
        model, transform, threshold = value.model, value.transform, value.threshold
    else:  # a version registered before bundles: the model, and its transform by digest
        transform_digest = version.properties.get("transform")
        if not transform_digest:
            return None, None, None
        model, threshold = value, version.properties.get("threshold")
        transform = load_value(transform_digest, project.artifacts)
    x, _ = features_and_labels(transform, dataset, "eval", target, task)
    return model.predict(x), threshold, f"{model_name}:{version.version}"


@step(cache=False)
def evaluate_model(
    dataset: Dataset,
    transform: Any,
    model: Any,
    evaluation: dict[str, Any],
    target: str,
    model_name: str | None = None,
    root: str = ".",
    title: str = "Evaluation",
) -> tuple[dict[str, Any], Path]:
    """Evaluate on the eval split (with bootstrap intervals), gate, and write the HTML report.

    Not cached: the model at the production alias, which the gate compares with, can move.
    """
    from ..config import EvaluateConfig
    from ..evaluate import choose_threshold, evaluate, write_evaluation_report
    from ..train.steps import features_and_labels

    cfg = EvaluateConfig.model_validate(evaluation)
    task = model.task
    x, y = features_and_labels(transform, dataset, "eval", target, task)
    score = model.predict(x)
    threshold = choose_threshold(y, score, cfg.threshold) if task == "binary" else 0.5
    prod_score, prod_threshold, prod_ref = _production(
        root, model_name, cfg.gate.compare_to, dataset, target, task
    )
    importances = {"gain": model.importances()} if hasattr(model, "importances") else None
    result = evaluate(
        task,
        y,
        score,
        config=cfg,
        threshold=threshold,
        production_score=prod_score,
        production_threshold=prod_threshold,
        importances=importances,
        seed=current_seed(),
    )
    for name, value in result.metrics.items():
        if np.isfinite(value):
            log_metric(f"eval_{name}", float(value))
    log_metric("blessed", 1.0 if result.blessed else 0.0)
    report = write_evaluation_report(scratch_dir() / "evaluation-report.html", result, title=title)
    data = result.to_dict()
    data["compared_with"] = prod_ref
    print(result.verdict.summary() if result.verdict is not None else "no gate")
    return data, Path(report)
