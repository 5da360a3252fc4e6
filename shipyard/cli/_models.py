"""``shipyard models``: registered models, their versions, and audited alias moves."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._format import console, echo_json, fmt_time

if TYPE_CHECKING:
    from ..registry import AliasMove, ModelVersion, Registry

models_app = typer.Typer(
    help="Registered models: versions, aliases and the audit log of alias moves.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AliasOpt = Annotated[str, typer.Option("--alias", metavar="ALIAS", help="The alias to move.")]
ReasonOpt = Annotated[
    str, typer.Option("--reason", metavar="TEXT", help="Why; kept in the audit log.")
]
HISTORY_ROWS = 20
_NUMBERS = {"version", "latest", "versions", "#", "from", "to"}
_NO_WRAP = _NUMBERS | {"field"}


def _registry() -> Registry:
    from ..pipeline.project import Project
    from ..registry import Registry

    return Registry(Project.discover())


def _table(*columns: str, title: str | None = None) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        table.add_column(
            c,
            overflow="fold",
            justify="right" if c in _NUMBERS else "left",
            no_wrap=c in _NO_WRAP,  # short values: free text wraps first
        )
    return table


def _text(value: str) -> str:
    """User text (descriptions, tags, reasons) shown as typed, never read as rich markup."""
    from rich.markup import escape

    return escape(value)


def _blessed(v: ModelVersion) -> str:
    return "yes" if v.blessed else "[yellow]no (forced)[/]"


def _run(v: ModelVersion) -> str:
    if v.run_id is None:
        return "-"
    return f"{v.run_name} ({v.run_id[:8]})" if v.run_name else v.run_id[:8]


def _version(v: int | None) -> str:
    return "-" if v is None else str(v)


@models_app.command("list")
def list_cmd(json_out: JsonOpt = False) -> None:
    """Registered models: latest version, aliases, when created and last registered."""
    models = _registry().list_models()
    if json_out:
        echo_json([m.to_dict() for m in models])
        return
    out = console()
    if not models:
        out.print("no models registered yet")
        return
    table = _table("model", "latest", "versions", "aliases", "created", "updated")
    for m in models:
        table.add_row(
            m.name,
            _version(m.latest_version),
            str(m.num_versions),
            ", ".join(f"{a}->{v}" for a, v in m.aliases.items()) or "-",
            fmt_time(m.created_at),
            fmt_time(m.updated_at),
        )
    out.print(table)


@models_app.command("show")
def show_cmd(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="A model; NAME:VERSION or NAME@ALIAS shows that one version in full.",
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """A model's versions, gate verdicts and aliases, and the audit log of alias moves."""
    from ..refs import parse_ref

    registry = _registry()
    parsed = parse_ref(ref)
    if parsed.kind in ("alias", "version"):
        _show_version(registry.get(ref), json_out)
        return
    if parsed.kind != "model":
        from ..errors import ReferenceError_

        raise ReferenceError_(f"{ref!r} is not a model; expected NAME, NAME:VERSION or NAME@ALIAS")
    model = registry.model(parsed.name)
    versions = registry.versions(parsed.name)
    history = registry.history(parsed.name)
    if json_out:
        echo_json(
            model.to_dict()
            | {
                "versions": [v.to_dict() for v in versions],
                "history": [h.to_dict() for h in history],
            }
        )
        return
    out = console()
    aliases = ", ".join(f"{a}->{v}" for a, v in model.aliases.items()) or "none"
    out.print(
        f"model [bold]{model.name}[/]: {model.num_versions} version(s), latest"
        f" {_version(model.latest_version)}; aliases: {aliases}; created {fmt_time(model.created_at)}"
    )
    if model.description:
        out.print(_text(model.description))
    table = _table(
        "version",
        "aliases",
        "blessed",
        "gate",
        "created",
        "run",
        "description",
        "tags",
        title="versions",
    )
    for v in versions:
        table.add_row(
            str(v.version),
            ", ".join(v.aliases) or "-",
            _blessed(v),
            _text(v.verdict_text),
            fmt_time(v.created_at),
            _text(_run(v)),
            _text(v.description) or "-",
            _text(", ".join(f"{k}={val}" for k, val in v.tags.items())) or "-",
        )
    out.print(table)
    _print_history(out, history)


def _print_history(out: Any, history: list[AliasMove]) -> None:
    if not history:
        out.print("alias moves: none yet")
        return
    table = _table("#", "when", "alias", "from", "to", "user", "reason", title="alias moves")
    for h in history[-HISTORY_ROWS:]:
        table.add_row(
            str(h.id),
            fmt_time(h.at),
            h.alias,
            _version(h.from_version),
            _version(h.to_version) if h.to_version is not None else "(deleted)",
            _text(h.user),
            _text(h.reason) or "-",
        )
    out.print(table)
    if len(history) > HISTORY_ROWS:
        out.print(f"{len(history) - HISTORY_ROWS} earlier move(s) not shown; --json lists them all")


def _show_version(v: ModelVersion, json_out: bool) -> None:
    if json_out:
        echo_json(v.to_dict())
        return
    out = console()
    props = {k: val for k, val in v.properties.items() if k not in ("gate", "input_example")}
    rows: list[tuple[str, str]] = [
        ("aliases", ", ".join(v.aliases) or "-"),
        ("blessed", _blessed(v)),
        ("gate", _text(v.verdict_text)),
        ("created", fmt_time(v.created_at)),
        ("registered by", _text(v.registered_by) or "-"),
        ("run", _text(_run(v))),
        ("artifact", v.artifact),
        ("description", _text(v.description) or "-"),
        ("tags", _text(", ".join(f"{k}={val}" for k, val in v.tags.items())) or "-"),
        ("pickle allowed", "yes" if v.allow_pickle else "no"),
    ]
    if "input_example" in v.properties:
        rows.append(("input example", _text(json.dumps(v.properties["input_example"]))))
    if props:
        rows.append(("properties", _text(json.dumps(props, indent=2, sort_keys=True))))
    table = _table("field", "value", title=f"{v.name}:{v.version}")
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)


def _print_move(move: AliasMove, verb: str) -> None:
    out = console()
    if not move.changed:
        out.print(
            f"{move.alias} of {move.name} already points at version {move.to_version};"
            " nothing moved"
        )
        return
    out.print(
        f"{verb} {move.alias} of {move.name}: {_version(move.from_version)} ->"
        f" {_version(move.to_version)} (move #{move.id} by {_text(move.user)})"
    )


@models_app.command("promote")
def promote_cmd(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The model.")],
    version: Annotated[int, typer.Argument(metavar="VERSION", min=1, help="Its version number.")],
    alias: AliasOpt = "production",
    reason: ReasonOpt = "",
) -> None:
    """Point an alias at a version (production by default); the move is audited."""
    _print_move(_registry().promote(name, version, alias, reason=reason), "moved")


@models_app.command("rollback")
def rollback_cmd(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The model.")],
    alias: AliasOpt = "production",
    reason: ReasonOpt = "",
) -> None:
    """Move an alias back to the version it pointed at before its last move."""
    _print_move(_registry().rollback(name, alias, reason=reason), "rolled back")
