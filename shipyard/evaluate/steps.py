"""The evaluate step: metrics, slices and the gate against the production model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ..data.dataset import Dataset
from ..pipeline.context import current_seed, log_metric, scratch_dir
from ..pipeline.step import step

if TYPE_CHECKING:
    from ..monitor.probes import ProbeReport
    from .gate import Verdict

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


def _probe(
    probes: dict[str, Any], dataset: Dataset, transform: Any, model: Any, threshold: float
) -> ProbeReport | None:
    """The probes of ``monitor.probes`` on the candidate, with eval rows; None if none are set."""
    from ..bundle.output import output_table
    from ..config import ProbesConfig
    from ..monitor.probes import run_probes

    cfg = ProbesConfig.model_validate(probes)
    if not (cfg.invariance or cfg.directional or cfg.fixed):
        return None
    task = model.task
    cut = threshold if task == "binary" else None

    def predict(rows: pa.Table) -> pa.Table:
        return output_table(task, model.predict(transform.apply(rows)), threshold=cut)

    rows = dataset.to_table("eval")
    return run_probes(
        cfg, predict, rows, task=task, key=dataset.meta.get("key"), seed=current_seed()
    )


def _with_probes(verdict: Verdict, checks: list[dict[str, Any]]) -> Verdict:
    """The verdict with the probes' checks added: a failed probe rejects."""
    from .gate import Verdict

    every = [*verdict.checks, *checks]
    failed = [c["message"] for c in every if not c["passed"]]
    return Verdict(not failed, failed or [c["message"] for c in every], every)


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
    probes: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Path]:
    """Evaluate on the eval split (with bootstrap intervals), gate, and write the HTML report.

    Not cached: the model at the production alias, which the gate compares with, can move.
    With ``probes`` (``monitor.probes``), the candidate's behavioural tests run on
    the eval split too, and a failed probe rejects it.
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
    checked = _probe(probes, dataset, transform, model, threshold) if probes else None
    if checked is not None and result.verdict is not None:
        result.verdict = _with_probes(result.verdict, checked.checks())
        for probe in checked.results:
            log_metric(f"probe:{probe.name}", 1.0 if probe.passed else 0.0)
    for name, value in result.metrics.items():
        if np.isfinite(value):
            log_metric(f"eval_{name}", float(value))
    log_metric("blessed", 1.0 if result.blessed else 0.0)
    report = write_evaluation_report(scratch_dir() / "evaluation-report.html", result, title=title)
    data = result.to_dict()
    data["compared_with"] = prod_ref
    if checked is not None:
        data["probes"] = checked.to_dict()
    print(result.verdict.summary() if result.verdict is not None else "no gate")
    return data, Path(report)
