"""The register step: a blessed model becomes a bundle and a numbered version (and moves an alias)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..pipeline.context import STEP, scratch_dir
from ..pipeline.step import step

__all__ = ["register_model"]


@step(cache=False)
def register_model(
    model: Any,
    transform: Any,
    evaluation: dict[str, Any],
    register: dict[str, Any],
    dataset: Any = None,
    statistics: Any = None,
    key: str | None = None,
    root: str = ".",
) -> dict[str, Any]:
    """Register the model when the gate blessed it (or ``register.force``).

    The version points at a bundle (docs/bundle.md) written from the model, the
    transform, the training statistics and the model's predictions on the eval
    split. A rejected model stays an artifact of its run, unregistered, and the
    step fails with the gate's reasons (exit code 3).
    """
    from ..bundle import load_bundle, write_bundle
    from ..errors import GateRejectedError
    from ..pipeline.materializers import save_value
    from ..pipeline.project import Project
    from ..registry import Registry

    name = register.get("model_name")
    if not name:
        print("register.model_name is not set: nothing registered")
        return {"registered": False, "reason": "register.model_name is not set"}
    verdict = evaluation.get("verdict") or {}
    blessed = bool(verdict.get("blessed", True))
    force = bool(register.get("force"))
    if not blessed and not force:
        reasons = "; ".join(verdict.get("reasons") or []) or "the gate rejected the model"
        raise GateRejectedError(
            f"model not registered: {reasons} (register.force registers it anyway)"
        )
    ctx = STEP.get()
    run_id = ctx.run_id if ctx is not None else None
    has_eval = dataset is not None and "eval" in dataset.splits
    training = _train_statistics(statistics)
    folder = Path(tempfile.mkdtemp(prefix="bundle.", dir=scratch_dir()))
    bundle_dir = write_bundle(
        folder / name,
        model=model,
        transform=transform,
        name=name,
        threshold=evaluation.get("threshold") if model.task == "binary" else None,
        training_statistics=training,
        feature_statistics=_feature_statistics(transform, dataset),
        eval_batches=dataset.batches("eval") if has_eval else (),
        key=key,
        description=register.get("description") or "",
        source={"kind": "run", "run_id": run_id},
        gate=verdict or None,
        metrics=evaluation.get("metrics"),
    )
    bundle = load_bundle(bundle_dir)  # verified, and proven to load before it is registered
    project = Project.discover(root)
    info = save_value(bundle, project.artifacts)
    store = project.metadata
    with store.write() as conn:
        store.record_artifact(conn, info)
    example = bundle.input_example()
    version = Registry(project).register(
        name,
        info["digest"],
        blessed=blessed,
        force=force,
        run_id=run_id,
        description=register.get("description") or "",
        tags=register.get("tags") or {},
        properties={
            "bundle_format": bundle.manifest["format_version"],
            "framework": bundle.manifest["framework"],
            "task": bundle.task,
            "threshold": bundle.threshold,
            "metrics": evaluation.get("metrics"),
            "gate": verdict,
            "input_example": example[:1],
        },
        alias=register.get("alias"),
        exist_ok=True,
    )
    alias = register.get("alias")
    print(f"registered {name}:{version.version}" + (f" as {name}@{alias}" if alias else ""))
    return {"registered": True, "name": name, "version": version.version, "alias": alias}


def _feature_statistics(transform: Any, dataset: Any) -> Any:
    """Statistics of the train split's transformed features, as the server computes them."""
    if dataset is None or "train" not in getattr(dataset, "splits", {}):
        return None
    from ..monitor._features import feature_statistics

    return feature_statistics(transform, dataset.batches("train"))


def _train_statistics(statistics: Any) -> Any:
    """The train split's statistics from the ingest step's output, when there are some."""
    if statistics is None:
        return None
    try:
        return statistics["train"]
    except (KeyError, TypeError):
        return None
