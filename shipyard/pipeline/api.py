"""Notebook helpers: runs as a table, a run by reference, an artifact as its object."""

from __future__ import annotations

from typing import Any

from ..errors import ReferenceError_
from ..refs import parse_ref
from ._filters import parse_filter
from .materializers import load_value
from .project import Project
from .results import Run

__all__ = ["get_run", "load_artifact", "runs"]


def runs(
    *,
    status: str | None = None,
    tags: dict[str, str] | None = None,
    pipeline: str | None = None,
    parent: str | None = None,
    filter: str | None = None,  # noqa: A002 - the word users type
    limit: int | None = None,
    as_pandas: bool = False,
    project: Project | None = None,
) -> Any:
    """Runs as a table, newest first: one row per run, ``params.*`` and ``metrics.*`` columns.

    Returns a ``pyarrow.Table``, or a ``pandas.DataFrame`` with ``as_pandas=True``.
    """
    import pyarrow as pa

    project = project or Project.discover()
    rows = project.metadata.list_runs(status=status, tags=tags, pipeline=pipeline, parent=parent)
    if filter:
        keep = parse_filter(filter)
        rows = [r for r in rows if keep(r)]
    if limit:
        rows = rows[:limit]
    param_keys = sorted({k for r in rows for k in r["params"]})
    metric_keys = sorted({k for r in rows for k in r["metrics"]})
    tag_keys = sorted({k for r in rows for k in r["tags"]})
    columns: dict[str, list[Any]] = {
        "id": [r["id"] for r in rows],
        "name": [r["name"] for r in rows],
        "pipeline": [r["pipeline"] for r in rows],
        "status": [r["status"] for r in rows],
        "created_at": [r["created_at"] for r in rows],
        "duration_s": [(r["ended_at"] - r["created_at"]) if r["ended_at"] else None for r in rows],
    }
    for k in param_keys:
        columns[f"params.{k}"] = [_cell(r["params"].get(k)) for r in rows]
    for k in metric_keys:
        columns[f"metrics.{k}"] = [r["metrics"].get(k) for r in rows]
    for k in tag_keys:
        columns[f"tags.{k}"] = [r["tags"].get(k) for r in rows]
    table = pa.table(columns)
    return table.to_pandas() if as_pandas else table


def _cell(value: Any) -> Any:
    """Params differ in type between runs; show them as text so a column has one type."""
    return None if value is None else str(value)


def get_run(ref: str, *, project: Project | None = None) -> Run:
    """The run named by an ID, a unique ID prefix, ``run:ID`` or its name."""
    project = project or Project.discover()
    return Run(project, project.metadata.resolve_run(ref)["id"])


def load_artifact(ref: str, *, allow_pickle: bool = False, project: Project | None = None) -> Any:
    """Load ``artifact:DIGEST-PREFIX`` (or a model reference) back as the object it was."""
    project = project or Project.discover()
    parsed = parse_ref(ref)
    if parsed.kind == "artifact":
        digest = project.metadata.resolve_artifact(parsed.name)["digest"]
    elif parsed.kind in ("alias", "version", "model"):
        digest = project.metadata.resolve_model_version(
            parsed.name, version=parsed.version, alias=parsed.alias
        )["artifact"]
    else:
        raise ReferenceError_(
            f"{ref!r} names a run; use shipyard.get_run({ref!r})['NODE'] to load one of its outputs"
        )
    return load_value(digest, project.artifacts, allow_pickle=allow_pickle)
