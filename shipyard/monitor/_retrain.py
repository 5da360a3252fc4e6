"""Retraining started by an alert: the project's standard pipeline in a fresh interpreter.

The monitor runs ``python -m shipyard.monitor._retrain ROOT [--tag K=V ...]``
(an argument list, never a shell), so that training's OpenMP threads and
forked workers never meet the monitor's own process. The child runs the
standard pipeline of the project's ``shipyard.yaml`` on whatever the source
now holds (a glob picks up new files, a query new rows), with the register
step's alias removed, and prints one line of JSON: the run, how it ended, the
version registered and the gate's reasons. The monitor moves the alias
itself, so that the move's reason in the audit log names the alert.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _retrain(root: Path, tags: dict[str, str]) -> dict[str, Any]:
    from ..errors import ShipyardError, StepFailedError
    from ..pipeline.project import Project
    from ..pipeline.runner import run
    from ..registry import Registry
    from ..standard import standard_pipeline

    found = Project.discover(root)
    config = found.config
    register = config.register.model_copy(update={"alias": None})
    config = config.model_copy(update={"register": register})
    project = Project(found.root, config)
    pipe = standard_pipeline(config, source_file=found.root / "shipyard.yaml")
    try:
        result = run(pipe, project=project, tags=tags)
    except StepFailedError as exc:
        status = "rejected" if exc.exit_code == 3 else "failed"
        return {"status": status, "run_id": exc.run_id, "error": exc.error, "step": exc.step}
    except ShipyardError as exc:
        return {"status": "failed", "run_id": None, "error": str(exc)}
    out: dict[str, Any] = {"status": "succeeded", "run_id": result.id, "version": None}
    name = config.register.model_name
    if name:
        for version in Registry(project).versions(name):
            if version.run_id == result.id:
                out.update(version=version.version, blessed=version.blessed)
    return out


def main(argv: list[str]) -> int:
    """Entry point: ``ROOT [--tag K=V ...]``; prints one JSON line, exit 0 unless it crashed."""
    root = Path(argv[0])
    tags: dict[str, str] = {}
    rest = argv[1:]
    while rest:
        flag, value, *rest = rest
        if flag != "--tag" or "=" not in value:
            print(json.dumps({"status": "failed", "error": f"bad argument {flag!r}"}))
            return 2
        key, _, val = value.partition("=")
        tags[key] = val
    out = _retrain(root, tags)
    sys.stdout.flush()
    print("\n" + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
