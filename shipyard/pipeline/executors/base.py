"""The executor interface: what runs the tasks the engine hands out."""

from __future__ import annotations

from typing import Any, Protocol

from ...store.artifacts import ArtifactStore
from ..dag import Graph

__all__ = ["Executor"]


class Executor(Protocol):
    """Runs node tasks; the engine decides what to run and records the results.

    A task is a plain dict (node, inputs, seed, log path, timeout ...); a
    result is the dict :func:`shipyard.pipeline._execute.execute` returns.
    """

    name: str

    def start(self, graph: Graph, store: ArtifactStore, parallelism: int) -> None:
        """Get ready to run nodes of ``graph`` (fork workers, connect to a cluster)."""
        ...

    def can_submit(self) -> bool:
        """Whether a task submitted now would start at once."""
        ...

    def submit(self, task: dict[str, Any]) -> None: ...

    def wait(self, timeout: float | None) -> list[dict[str, Any]]:
        """Results of tasks that finished, waiting up to ``timeout`` seconds for one."""
        ...

    def shutdown(self) -> None:
        """Stop every worker; tasks still running are abandoned."""
        ...
