"""Runs each task in this process, one at a time: for debuggers and notebooks' pdb."""

from __future__ import annotations

from typing import Any

from ...store.artifacts import ArtifactStore
from .._execute import execute
from ..dag import Graph

__all__ = ["InlineExecutor"]


class InlineExecutor:
    """No processes, no parallelism, no timeouts: a step runs as a plain call."""

    name = "inline"

    def __init__(self, workers: int | None = None) -> None:
        self._queue: list[dict[str, Any]] = []

    def start(self, graph: Graph, store: ArtifactStore, parallelism: int) -> None:
        self._graph, self._store = graph, store

    def can_submit(self) -> bool:
        return not self._queue

    def submit(self, task: dict[str, Any]) -> None:
        self._queue.append(task)

    def wait(self, timeout: float | None) -> list[dict[str, Any]]:
        if not self._queue:
            return []
        task = self._queue.pop(0)
        return [{**execute(self._graph, task, self._store, in_worker=False), "task": task}]

    def shutdown(self) -> None:
        self._queue.clear()
