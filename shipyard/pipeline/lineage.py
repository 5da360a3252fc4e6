"""Lineage: where an artifact came from and where it went, as a nested structure."""

from __future__ import annotations

from typing import Any

from ..refs import parse_ref
from ..store.metadata import MetadataStore

__all__ = ["lineage_of"]


def lineage_of(store: MetadataStore, ref: str, *, depth: int = 10) -> dict[str, Any]:
    """Upstream and downstream trees of the artifact, run or model version ``ref`` names.

    For a run, the roots are its final outputs (those no other step of the run
    consumed). Cached executions point to the execution that first produced
    the artifact, so lineage crosses runs.
    """
    parsed = parse_ref(ref)
    if parsed.kind == "artifact":
        digests = [store.resolve_artifact(parsed.name)["digest"]]
    elif parsed.kind == "run":
        details = store.run_details(store.resolve_run(parsed.name)["id"])
        produced = {o["artifact"] for e in details["executions"] for o in e["outputs"]}
        consumed = {i["artifact"] for e in details["executions"] for i in e["inputs"]}
        digests = sorted(produced - consumed) or sorted(produced)
    else:
        version = store.resolve_model_version(
            parsed.name, version=parsed.version, alias=parsed.alias
        )
        digests = [version["artifact"]]
    walker = _Walker(store, depth)
    return {"ref": ref, "roots": [walker.root(d) for d in digests]}


class _Walker:
    def __init__(self, store: MetadataStore, depth: int) -> None:
        self.store, self.depth = store, depth
        self._cache: dict[str, dict[str, Any]] = {}

    def info(self, digest: str) -> dict[str, Any]:
        if digest not in self._cache:
            self._cache[digest] = self.store.artifact_lineage(digest)
        return self._cache[digest]

    def label(self, digest: str) -> str:
        art = self.store.resolve_artifact(digest)
        return f"artifact {digest[:12]} ({art['type']}, {art['python_type'].rsplit('.', 1)[-1]})"

    def root(self, digest: str) -> dict[str, Any]:
        return {
            "artifact": digest,
            "label": self.label(digest),
            "upstream": self.up(digest, self.depth, set()),
            "downstream": self.down(digest, self.depth, set()),
        }

    def up(self, digest: str, depth: int, seen: set[str]) -> list[dict[str, Any]]:
        if depth <= 0 or digest in seen:
            return []
        seen.add(digest)
        info = self.info(digest)
        prod = info["producer"]
        if prod is None:
            return []
        return [
            {
                "execution": prod["id"],
                "run": prod["run_id"],
                "label": f"step {prod['node']} of run {prod['run_name']} ({prod['run_id'][:8]})",
                "files": info["input_files"],
                "upstream": [
                    {
                        "artifact": i["artifact"],
                        "input": i["name"],
                        "label": f"{i['name']} <- {self.label(i['artifact'])}",
                        "upstream": self.up(i["artifact"], depth - 1, seen),
                    }
                    for i in info["inputs"]
                ],
            }
        ]

    def down(self, digest: str, depth: int, seen: set[str]) -> list[dict[str, Any]]:
        if depth <= 0 or digest in seen:
            return []
        seen.add(digest)
        info = self.info(digest)
        items: list[dict[str, Any]] = [
            {"model": f"{v['name']}:{v['version']}", "label": f"model {v['name']}:{v['version']}"}
            for v in info["model_versions"]
        ]
        by_exec: dict[str, dict[str, Any]] = {}
        for c in info["consumers"]:
            by_exec.setdefault(c["id"], c)
        for c in by_exec.values():
            items.append(
                {
                    "execution": c["id"],
                    "run": c["run_id"],
                    "label": f"step {c['node']} of run {c['run_name']} ({c['run_id'][:8]})",
                    "downstream": [
                        {
                            "artifact": o,
                            "label": self.label(o),
                            "downstream": self.down(o, depth - 1, seen),
                        }
                        for o in c["outputs"]
                    ],
                }
            )
        return items
