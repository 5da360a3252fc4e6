"""Replay a run and explain any output that came out different."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ShipyardError
from .loader import load_pipeline
from .project import Project
from .runner import run

__all__ = ["Reproduction", "reproduce"]


@dataclass
class Reproduction:
    """The outcome of :func:`reproduce`: one entry per node, and why outputs differ."""

    original: str
    replay: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    packages_changed: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return all(n["match"] for n in self.nodes)


def _final(details: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The last succeeded execution of each node."""
    out: dict[str, dict[str, Any]] = {}
    for ex in details["executions"]:
        if ex["status"] == "succeeded":
            out[ex["node"]] = ex
    return out


def reproduce(run_ref: str, *, project: Project | None = None) -> Reproduction:
    """Run ``run_ref`` again with its recorded parameters and seed, without the cache.

    Each node's output digests are compared with the original's. Where they
    differ the reason is named: the step's code, an input file (with its
    path), an upstream output, or installed packages.
    """
    project = project or Project.discover()
    store = project.metadata
    old = store.run_details(store.resolve_run(run_ref)["id"])
    if old["status"] != "succeeded":
        raise ShipyardError(
            f"run {old['name']} did not succeed ({old['status']}); resume it instead"
        )
    if not old["source"] or old["pipeline"] == "tracking":
        raise ShipyardError(
            f"run {old['name']} was tracked by hand; there is no pipeline to replay"
        )
    source = old["source"]
    path_part = source.rpartition(":")[0]
    if path_part.endswith(".py") and not Path(path_part).is_absolute():
        source = str(project.root / source)
    pipe = load_pipeline(source)
    new_run = run(
        pipe,
        params=pipe.restore(old["params"]),
        seed=old["seed"],
        no_cache=True,
        project=project,
        reproduces=old["id"],
        tags={"reproduces": old["id"]},
    )
    new = store.run_details(new_run.id)
    result = Reproduction(original=old["id"], replay=new["id"])
    old_pkgs = (old.get("env") or {}).get("packages", {})
    new_pkgs = (new.get("env") or {}).get("packages", {})
    for name in sorted(set(old_pkgs) | set(new_pkgs)):
        if old_pkgs.get(name) != new_pkgs.get(name):
            result.packages_changed[name] = (old_pkgs.get(name), new_pkgs.get(name))
    before, after = _final(old), _final(new)
    for node, ex in before.items():
        now = after.get(node)
        old_out = sorted((o["name"], o["artifact"]) for o in ex["outputs"])
        new_out = sorted((o["name"], o["artifact"]) for o in (now or {}).get("outputs", []))
        reasons = []
        if now is None:
            reasons.append("the node is no longer in the pipeline")
        else:
            if now["code_digest"] != ex["code_digest"]:
                reasons.append("the step's code changed")
            old_files = {f["path"]: f["digest"] for f in ex["input_files"]}
            new_files = {f["path"]: f["digest"] for f in now["input_files"]}
            for p in sorted(set(old_files) | set(new_files)):
                if old_files.get(p) != new_files.get(p):
                    reasons.append(f"input file {p} changed")
            old_in = {i["name"]: i["artifact"] for i in ex["inputs"]}
            new_in = {i["name"]: i["artifact"] for i in now["inputs"]}
            for name in sorted(set(old_in) | set(new_in)):
                if old_in.get(name) != new_in.get(name):
                    reasons.append(f"its input '{name}' (an upstream output) changed")
        match = old_out == new_out
        if not match and not reasons:
            reasons.append(
                "same code, inputs and seed gave other bytes: the step is not deterministic"
                + (" or a package changed" if result.packages_changed else "")
            )
        result.nodes.append(
            {
                "node": node,
                "match": match,
                "original": [d for _, d in old_out],
                "replay": [d for _, d in new_out],
                "reasons": [] if match else reasons,
            }
        )
    return result
