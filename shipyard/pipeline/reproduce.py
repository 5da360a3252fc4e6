"""Replay a run and explain any output that came out different."""

from __future__ import annotations

import json
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
        """Every node matches: by digests, or (inexact steps) by metrics within tolerance."""
        return all(n["match"] for n in self.nodes)

    @property
    def exact(self) -> bool:
        """Every node was compared by its output digests (no step was marked inexact)."""
        return all(n.get("compared", "digests") == "digests" for n in self.nodes)


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
    path), an upstream output, or installed packages. A step that marked itself
    inexact (:func:`~shipyard.pipeline.context.mark_inexact`: tuning with parallel
    workers or a time budget) is compared by the metrics it named, within its
    tolerance; the steps whose inputs differ only through it are reported as
    explained.
    """
    project = project or Project.discover()
    store = project.metadata
    old = store.run_details(store.resolve_run(run_ref)["id"])
    if old["status"] != "succeeded":
        raise ShipyardError(
            f"run {old['name']} did not succeed ({old['status']}); resume it instead"
        )
    if old["parent_id"]:
        raise ShipyardError(
            f"run {old['name']} is a trial of run {old['parent_id'][:8]}; reproduce that run"
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
    inexact = {
        k.removeprefix("inexact."): json.loads(v)
        for k, v in old["tags"].items()
        if k.startswith("inexact.")
    }
    producer = {o["artifact"]: n for n, ex in before.items() for o in ex["outputs"]}
    tainted: set[str] = set()  # nodes whose outputs may differ because an inexact step's did
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
        compared = "digests"
        if now is not None and not match and node in inexact and not reasons:
            compared = "metrics"
            match, reasons = _within(store, ex, now, inexact[node])
            tainted.add(node)
        elif (
            now is not None and not match and reasons and _from_tainted(ex, now, producer, tainted)
        ):
            # Only inputs that came (through other steps) from an inexact step changed.
            compared, match = "explained", True
            sources = sorted({producer[i["artifact"]] for i in ex["inputs"]} & tainted)
            reasons = [f"its inputs come from the inexact step(s) {', '.join(sources)}"]
            tainted.add(node)
        if not match and not reasons:
            reasons.append(
                "same code, inputs and seed gave other bytes: the step is not deterministic"
                + (" or a package changed" if result.packages_changed else "")
            )
        result.nodes.append(
            {
                "node": node,
                "match": match,
                "compared": compared,
                "original": [d for _, d in old_out],
                "replay": [d for _, d in new_out],
                "reasons": reasons if (not match or compared != "digests") else [],
            }
        )
    return result


def _within(
    store: Any, old: dict[str, Any], new: dict[str, Any], marker: dict[str, Any]
) -> tuple[bool, list[str]]:
    """Compare the metrics an inexact step named, within its relative tolerance."""
    tolerance = float(marker["tolerance"])
    before, after = store.execution_metrics(old["id"]), store.execution_metrics(new["id"])
    ok, reasons = True, []
    for key in marker["metrics"]:
        if key not in before or key not in after:
            ok = False
            reasons.append(
                f"metric {key} is missing from the {'replay' if key in before else 'original'}"
            )
            continue
        a, b = before[key], after[key]
        close = abs(a - b) <= tolerance * max(abs(a), abs(b), 1e-12)
        ok = ok and close
        word = "within" if close else "beyond"
        reasons.append(f"metric {key}: {a:.6g} vs {b:.6g}, {word} {tolerance:.2%} (inexact step)")
    return ok, reasons


def _from_tainted(
    old: dict[str, Any], new: dict[str, Any], producer: dict[str, str], tainted: set[str]
) -> bool:
    """Whether the only differences of a node are inputs produced by tainted nodes."""
    if old["code_digest"] != new["code_digest"]:
        return False
    if {f["path"]: f["digest"] for f in old["input_files"]} != {
        f["path"]: f["digest"] for f in new["input_files"]
    }:
        return False
    old_in = {i["name"]: i["artifact"] for i in old["inputs"]}
    new_in = {i["name"]: i["artifact"] for i in new["inputs"]}
    changed = [n for n in set(old_in) | set(new_in) if old_in.get(n) != new_in.get(n)]
    return bool(changed) and all(producer.get(old_in.get(n, "")) in tainted for n in changed)
