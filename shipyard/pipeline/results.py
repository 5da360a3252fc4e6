"""What a finished run hands back: its record and lazy access to its outputs."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from ..errors import ArtifactNotFoundError
from .materializers import load_value

if TYPE_CHECKING:
    from .project import Project

__all__ = ["Run"]


class Run:
    """A recorded run. ``run["fit"]`` loads the output of node ``fit`` as the object it was.

    Attributes
    ----------
    id, name, status
        From the metadata store.
    """

    def __init__(self, project: Project, run_id: str) -> None:
        self.project = project
        self.id = run_id

    @functools.cached_property
    def details(self) -> dict[str, Any]:
        """The full record: params, tags, metrics, executions with inputs and outputs."""
        return self.project.metadata.run_details(self.id)

    @property
    def name(self) -> str:
        return str(self.details["name"])

    @property
    def status(self) -> str:
        return str(self.details["status"])

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.details["params"])

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.details["metrics"])

    def executions(self) -> list[dict[str, Any]]:
        return list(self.details["executions"])

    def output_digests(self, node: str) -> list[str]:
        for ex in reversed(self.details["executions"]):
            if ex["node"] == node and ex["status"] == "succeeded":
                return [o["artifact"] for o in sorted(ex["outputs"], key=_output_order)]
        nodes = sorted({e["node"] for e in self.details["executions"]})
        raise ArtifactNotFoundError(
            f"run {self.name} has no successful node {node!r}; its nodes are {nodes}"
        )

    def __getitem__(self, node: str) -> Any:
        digests = self.output_digests(node)
        values = [load_value(d, self.project.artifacts) for d in digests]
        return values[0] if len(values) == 1 else tuple(values)

    def __repr__(self) -> str:
        return f"<Run {self.id[:8]} {self.details['name']} {self.details['status']}>"


def _output_order(event: dict[str, Any]) -> int:
    """``output`` or ``output[i]`` in index order (``output[10]`` after ``output[9]``)."""
    name = str(event["name"])
    return int(name[7:-1]) if name.startswith("output[") else 0
