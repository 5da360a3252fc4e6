"""The register step: a blessed model becomes a numbered version (and moves an alias)."""

from __future__ import annotations

from typing import Any

from ..pipeline.context import STEP
from ..pipeline.step import step

__all__ = ["register_model"]


@step(cache=False)
def register_model(
    model: Any,
    transform: Any,
    evaluation: dict[str, Any],
    register: dict[str, Any],
    root: str = ".",
) -> dict[str, Any]:
    """Register the model when the gate blessed it (or ``register.force``).

    A rejected model stays an artifact of its run, unregistered, and the step
    fails with the gate's reasons (exit code 3).
    """
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
    project = Project.discover(root)
    # Content-addressed: saving the same value again yields the digest the engine stored.
    model_digest = save_value(model, project.artifacts)
    transform_digest = save_value(transform, project.artifacts)
    store = project.metadata
    with store.write() as conn:
        for info in (model_digest, transform_digest):
            store.record_artifact(conn, info)
    ctx = STEP.get()
    version = Registry(project).register(
        name,
        model_digest["digest"],
        blessed=blessed,
        force=force,
        run_id=ctx.run_id if ctx is not None else None,
        properties={
            "transform": transform_digest["digest"],
            "threshold": evaluation.get("threshold"),
            "metrics": evaluation.get("metrics"),
            "gate": verdict,
        },
        alias=register.get("alias"),
        exist_ok=True,
    )
    alias = register.get("alias")
    print(f"registered {name}:{version.version}" + (f" as {name}@{alias}" if alias else ""))
    return {"registered": True, "name": name, "version": version.version, "alias": alias}
