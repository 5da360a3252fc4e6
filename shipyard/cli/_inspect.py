"""Commands that look at the record: ``runs``, ``show``, ``compare``, ``lineage``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ._format import (
    console,
    echo_json,
    fmt_bytes,
    fmt_duration,
    fmt_time,
    fmt_value,
    short,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _project() -> Any:
    from ..pipeline.project import Project

    return Project.discover()


def _table(*columns: str, title: str | None = None) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        table.add_column(c, overflow="fold")
    return table


def run_summary(details: dict[str, Any]) -> dict[str, Any]:
    """The JSON shape of a run, used by ``run --json`` and ``show --json``."""
    return {
        k: details[k]
        for k in (
            "id",
            "name",
            "pipeline",
            "source",
            "status",
            "seed",
            "created_at",
            "ended_at",
            "git_commit",
            "git_dirty_digest",
            "params",
            "metrics",
            "tags",
            "error",
            "resumed_from",
            "reproduces",
        )
    } | {
        "environment": details.get("env"),
        "steps": [
            {
                "node": e["node"],
                "step": e["step"],
                "status": e["status"],
                "cache_hit": bool(e["cache_hit"]),
                "duration_s": e["duration_s"],
                "peak_rss_bytes": e["peak_rss_bytes"],
                "attempts": e["attempts"],
                "cache_key": e["cache_key"],
                "params": e["params"],
                "inputs": {i["name"]: i["artifact"] for i in e["inputs"]},
                "outputs": {o["name"]: o["artifact"] for o in e["outputs"]},
                "input_files": e["input_files"],
                "error": e["error"],
                "log_path": e["log_path"],
            }
            for e in details["executions"]
        ],
    }


def _steps_table(details: dict[str, Any]) -> Any:
    table = _table("step", "status", "time", "peak memory", "outputs")
    for e in details["executions"]:
        status = "cached" if e["cache_hit"] else e["status"]
        style = {"failed": "red", "cached": "dim", "running": "yellow"}.get(status, "green")
        outs = ", ".join(f"{o['type']} {short(o['artifact'])}" for o in e["outputs"]) or "-"
        table.add_row(
            e["node"],
            f"[{style}]{status}[/]",
            fmt_duration(e["duration_s"]) if not e["cache_hit"] else "-",
            fmt_bytes(e["peak_rss_bytes"]),
            outs,
        )
    return table


def print_run_result(details: dict[str, Any], project: Any) -> None:
    out = console()
    out.print(_steps_table(details))
    execs = details["executions"]
    cached = sum(1 for e in execs if e["cache_hit"])
    took = (details["ended_at"] or details["created_at"]) - details["created_at"]
    out.print(
        f"run [bold]{details['name']}[/] ({details['id'][:8]}) {details['status']} in"
        f" {fmt_duration(took)}: {len(execs) - cached} step(s) ran, {cached} cached"
    )
    # Per-feature importances are in `shipyard show`; the summary keeps to the headline.
    shown = {k: v for k, v in details["metrics"].items() if not k.startswith("importance.")}
    if shown:
        out.print("metrics: " + ", ".join(f"{k}={fmt_value(v)}" for k, v in shown.items()))
    for path in _reports(details, project):
        out.print(f"report: {path}")
    out.print(f"store: {project.store_url.replace('sqlite:///', '')}")
    out.print(
        f"next: shipyard show {details['id'][:8]}  |  shipyard lineage run:{details['id'][:8]}"
    )


def _reports(details: dict[str, Any], project: Any) -> list[Any]:
    """HTML files the run's steps produced (reports), at their place in the artifact store."""
    from ..pipeline.materializers import load_value

    found = []
    for e in details["executions"]:
        for o in e["outputs"]:
            if o["type"] == "path":
                path = load_value(o["artifact"], project.artifacts)
                if str(path).endswith(".html"):
                    found.append(path)
    return found


def print_reproduction(result: Any) -> None:
    out = console()
    table = _table("step", "outputs", "why")
    for n in result.nodes:
        compared = n.get("compared", "digests")
        if compared == "metrics":
            mark = "[green]within tolerance[/]" if n["match"] else "[red]beyond tolerance[/]"
        elif compared == "explained":
            mark = "[yellow]differ (inexact upstream)[/]"
        else:
            mark = "[green]identical[/]" if n["match"] else "[red]differ[/]"
        table.add_row(n["node"], mark, "; ".join(n["reasons"]) or "-")
    out.print(table)
    for name, (a, b) in result.packages_changed.items():
        out.print(f"package {name}: {a or 'absent'} -> {b or 'absent'}")
    if not result.identical:
        verdict = "NOT reproduced"
    elif result.exact:
        verdict = "reproduced: every output digest matches"
    else:
        verdict = (
            "reproduced within tolerance: inexact steps matched by their metrics,"
            " every other output digest matches or differs only through them"
        )
    out.print(f"{verdict} (original {result.original[:8]}, replay {result.replay[:8]})")


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)
    app.command("show")(show)
    app.command("compare")(compare)
    app.command("lineage")(lineage)


def runs(
    status: Annotated[
        str | None, typer.Option(metavar="STATUS", help="running, succeeded or failed.")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", metavar="KEY=VALUE", help="Only runs with this tag; repeatable."),
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option(
            "--filter", metavar="EXPR", help='e.g. "metrics.auc > 0.8 and params.depth = 5".'
        ),
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only runs of this pipeline.")
    ] = None,
    parent: Annotated[
        str | None, typer.Option(metavar="RUN", help="Only child runs of this run (trials).")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="At most this many runs (default 20; all trials)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """List runs, newest first, with their parameters and metrics."""
    from ..pipeline._filters import parse_filter
    from .app import _parse_kv

    project = _project()
    parent_id = project.metadata.resolve_run(parent)["id"] if parent else None
    rows = project.metadata.list_runs(
        status=status, tags=_parse_kv(tag or [], "--tag"), pipeline=pipeline, parent=parent_id
    )
    if filter_:
        keep = parse_filter(filter_)
        rows = [r for r in rows if keep(r)]
    rows = rows[: limit or (None if parent else 20)]
    if json_out:
        echo_json(rows)
        return
    table = _table("name", "id", "status", "started", "duration", "params", "metrics")
    for r in rows:
        took = (r["ended_at"] - r["created_at"]) if r["ended_at"] else None
        state = r["tags"].get("tune.state")  # a trial: pruned and interrupted are worth seeing
        table.add_row(
            r["name"],
            r["id"][:8],
            f"{r['status']} ({state})" if state in ("pruned", "interrupted") else r["status"],
            fmt_time(r["created_at"]),
            fmt_duration(took),
            " ".join(f"{k}={fmt_value(v)}" for k, v in r["params"].items()),
            " ".join(f"{k}={fmt_value(v)}" for k, v in r["metrics"].items()),
        )
    console().print(table)
    if not rows:
        console().print("no runs match")


def show(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run ID, prefix or name.")],
    json_out: JsonOpt = False,
) -> None:
    """Show one run: parameters, metrics, environment and every step with its artifacts."""
    project = _project()
    details = project.metadata.run_details(project.metadata.resolve_run(run_ref)["id"])
    if json_out:
        echo_json(run_summary(details))
        return
    out = console()
    env = details.get("env") or {}
    took = (details["ended_at"] - details["created_at"]) if details["ended_at"] else None
    header = [
        ("run", f"{details['name']} ({details['id']})"),
        ("status", details["status"]),
        ("pipeline", f"{details['pipeline']}  [dim]{details['source']}[/]"),
        ("started", f"{fmt_time(details['created_at'])}, took {fmt_duration(took)}"),
        ("seed", str(details["seed"])),
        (
            "git",
            f"{details['git_commit'] or '-'}"
            + (" (uncommitted changes)" if details["git_dirty_digest"] else ""),
        ),
        ("python", f"{env.get('python', '-')} on {env.get('platform', '-')}"),
    ]
    if details["resumed_from"] or details["reproduces"]:
        header.append(("reproduces", details["reproduces"] or "-"))
    if details["error"]:
        header.append(("error", f"[red]{details['error']}[/]"))
    for k, v in header:
        out.print(f"[bold]{k:>9}[/]  {v}")
    for title, data in (
        ("params", details["params"]),
        ("metrics", details["metrics"]),
        ("tags", details["tags"]),
    ):
        if data:
            out.print(
                f"[bold]{title:>9}[/]  " + "  ".join(f"{k}={fmt_value(v)}" for k, v in data.items())
            )
    out.print(_steps_table(details))
    for e in details["executions"]:
        if e["status"] == "failed":
            out.print(f"[red]step {e['node']} failed:[/] {e['error']}\n  log: {e['log_path']}")


def compare(
    run_refs: Annotated[list[str], typer.Argument(metavar="RUN...", help="Two or more runs.")],
    only_diff: Annotated[bool, typer.Option("--diff", help="Only rows that differ.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Parameters and metrics of runs side by side; differences highlighted."""
    from ..errors import ConfigError

    if len(run_refs) < 2:
        raise ConfigError("compare needs at least two runs")
    project = _project()
    runs_ = [project.metadata.run_details(project.metadata.resolve_run(r)["id"]) for r in run_refs]
    rows: list[tuple[str, list[Any]]] = []
    for section in ("params", "metrics"):
        keys = sorted({k for r in runs_ for k in r[section]})
        rows += [(f"{section}.{k}", [r[section].get(k) for r in runs_]) for k in keys]
    if json_out:
        echo_json(
            {
                "runs": [r["id"] for r in runs_],
                "rows": {
                    k: {"values": v, "differs": len({json.dumps(x) for x in v}) > 1}
                    for k, v in rows
                },
            }
        )
        return
    table = _table("", *[f"{r['name']} ({r['id'][:8]})" for r in runs_])
    for key, values in rows:
        differs = len({json.dumps(v, sort_keys=True) for v in values}) > 1
        if only_diff and not differs:
            continue
        cells = ["-" if v is None else fmt_value(v) for v in values]
        style = "bold yellow" if differs else ""
        table.add_row(
            f"[{style}]{key}[/]" if style else key,
            *(f"[{style}]{c}[/]" if style else c for c in cells),
        )
    console().print(table)


def lineage(
    ref: Annotated[
        str,
        typer.Argument(metavar="REF", help="run:ID, artifact:PREFIX, NAME:VERSION or NAME@ALIAS."),
    ],
    depth: Annotated[
        int, typer.Option(min=1, metavar="N", help="How many steps up and down to follow.")
    ] = 10,
    json_out: JsonOpt = False,
) -> None:
    """Upstream and downstream of an artifact, a run or a model version."""
    from ..pipeline.lineage import lineage_of

    project = _project()
    graph = lineage_of(project.metadata, ref, depth=depth)
    if json_out:
        echo_json(graph)
        return
    from rich.tree import Tree

    out = console()
    for root in graph["roots"]:
        tree = Tree(f"[bold]{root['label']}[/]")
        _add_upstream(tree.add("[bold]upstream[/]"), root["upstream"])
        _add_downstream(tree.add("[bold]downstream[/]"), root["downstream"])
        out.print(tree)


def _add_upstream(tree: Any, items: list[dict[str, Any]]) -> None:
    if not items:
        tree.add("[dim](none: a source)[/]")
    for item in items:
        branch = tree.add(item["label"])
        for f in item.get("files", []):
            branch.add(f"file {f['path']} sha256 {short(f['digest'])}")
        if item.get("upstream"):
            _add_upstream(branch, item["upstream"])


def _add_downstream(tree: Any, items: list[dict[str, Any]]) -> None:
    if not items:
        tree.add("[dim](none)[/]")
    for item in items:
        branch = tree.add(item["label"])
        if item.get("downstream"):
            _add_downstream(branch, item["downstream"])
