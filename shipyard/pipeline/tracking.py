"""``with shipyard.start_run():`` — record work done outside a pipeline, as in MLflow."""

from __future__ import annotations

import time
import types
import uuid
from typing import Any

from .context import RUN
from .environment import environment_snapshot, git_state
from .materializers import save_value
from .project import Project

__all__ = ["ActiveRun", "start_run"]


class ActiveRun:
    """A run being tracked by hand. Use it as a context manager."""

    def __init__(
        self,
        project: Project,
        name: str | None,
        tags: dict[str, str] | None,
        params: dict[str, Any] | None,
        seed: int,
    ) -> None:
        self.project = project
        self._args = (name, tags, params, seed)
        self.id = ""
        self.name = ""

    def __enter__(self) -> ActiveRun:
        name, tags, params, seed = self._args
        self.id, self.name = self.project.metadata.create_run(
            pipeline="tracking",
            source="",
            seed=seed,
            params=params or {},
            tags=tags,
            name=name,
            environment=environment_snapshot(self.project.store_dir / "cache"),
            git=git_state(self.project.root),
        )
        self._token = RUN.set(self)
        self._steps: dict[str, int] = {}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        RUN.reset(self._token)
        error = None if exc is None else f"{type(exc).__name__}: {exc}"
        self.project.metadata.finish_run(self.id, "failed" if exc else "succeeded", error)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        if step is None:
            step = self._steps.get(key, 0)
            self._steps[key] = step + 1
        self.project.metadata.log_metrics(self.id, [(key, value, step, time.time())])

    def log_params(self, values: dict[str, Any]) -> None:
        self.project.metadata.log_params(self.id, values)

    def set_tags(self, tags: dict[str, str]) -> None:
        self.project.metadata.set_tags(self.id, tags)

    def log_artifact(
        self, value: Any, name: str = "artifact", *, allow_pickle: bool = False
    ) -> str:
        """Store ``value`` as an output of this run; return its digest."""
        info = save_value(value, self.project.artifacts, allow_pickle=allow_pickle)
        store = self.project.metadata
        now = time.time()
        with store.write() as conn:
            store.record_artifact(conn, info)
            exec_id = uuid.uuid4().hex
            store.record_execution(
                conn,
                execution_id=exec_id,
                run_id=self.id,
                values={
                    "node": name,
                    "step": "log_artifact",
                    "status": "succeeded",
                    "cache_key": "",
                    "cache_hit": False,
                    "code_digest": "",
                    "params": {},
                    "started_at": now,
                    "ended_at": now,
                    "duration_s": 0.0,
                },
            )
            store.record_events(conn, exec_id, "output", {"output": info["digest"]})
        return str(info["digest"])


def start_run(
    name: str | None = None,
    *,
    tags: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    project: Project | None = None,
) -> ActiveRun:
    """Track work done outside a pipeline.

    Examples
    --------
    >>> with shipyard.start_run(name="baseline") as run:   # doctest: +SKIP
    ...     shipyard.log_param("depth", 3)
    ...     shipyard.log_metric("auc", 0.91)
    """
    project = project or Project.discover()
    return ActiveRun(project, name, tags, params, project.config.seed)
