"""``shipyard models``: registered models, their versions, and audited alias moves."""

from __future__ import annotations

import json
from pathlib import Path
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


def version_bundle(ref: str) -> tuple[ModelVersion, Any]:
    """The version ``ref`` names and the folder of its bundle, checked against its digests."""
    from ..errors import MaterializerError
    from ..pipeline.project import Project
    from ..registry import Registry

    project = Project.discover()
    version = Registry(project).get(ref)
    manifest = project.artifacts.manifest(version.artifact)
    if manifest.get("type") != "shipyard.bundle":
        raise MaterializerError(
            f"{version.ref} was registered before bundles existed (its artifact is a"
            f" {manifest.get('type')}); run the pipeline again to register a version with a bundle"
        )
    return version, project.artifacts.path(version.artifact, verify=True)


@models_app.command("export")
def export_cmd(
    ref: Annotated[
        str, typer.Argument(metavar="NAME@ALIAS", help="The version: NAME@ALIAS or NAME:VERSION.")
    ],
    dest: Annotated[
        Path,
        typer.Argument(
            metavar="DEST",
            help="A new folder, or a .tar.gz file for the bundle as one archive.",
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Write a version's bundle (docs/bundle.md) to a folder or a .tar.gz archive."""
    from ..bundle._files import read_manifest
    from ..bundle.bundle import copy_bundle
    from ..errors import ConfigError

    version, folder = version_bundle(ref)
    if dest.exists():
        raise ConfigError(f"{dest} exists; export writes a new folder or file")
    if dest.name.endswith((".tar.gz", ".tgz")):
        _archive(folder, dest, version.name)
    else:
        copy_bundle(folder, dest)
    manifest = read_manifest(folder)
    if json_out:
        echo_json({"ref": version.ref, "path": str(dest), "files": len(manifest["files"]) + 1})
        return
    console().print(
        f"exported {version.ref} ({manifest['framework']} {manifest['task']}) to {dest}\n"
        f"serve it: shipyard serve --bundle {dest}; predict: shipyard predict --bundle {dest}"
        " INPUT OUTPUT"
    )


def _archive(folder: Path, dest: Path, name: str) -> None:
    """A .tar.gz of the bundle's files under one folder, written whole or not at all."""
    import os
    import tarfile
    import tempfile

    from ..bundle._files import MANIFEST, read_manifest

    files = [*read_manifest(folder)["files"], MANIFEST]
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            for rel in sorted(files):
                info = tar.gettarinfo(folder / rel, arcname=f"{name}/{rel}")
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
                info.mtime = 0
                with open(folder / rel, "rb") as fh:
                    tar.addfile(info, fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


@models_app.command("import")
def import_cmd(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="The saved model (.ubj/.json, .txt, .skops).")
    ],
    framework: Annotated[
        str,
        typer.Option("--framework", metavar="NAME", help="xgboost, lightgbm or sklearn."),
    ],
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="The registered model.")],
    signature: Annotated[
        Path | None,
        typer.Option(
            "--signature",
            metavar="SIGNATURE.json",
            help='Input columns: ["a", "b"] or {"inputs": [{"name": "a", "type": "double"}]}.',
        ),
    ] = None,
    example: Annotated[
        Path | None,
        typer.Option(
            "--example", metavar="EXAMPLE.json", help="Input rows the model must predict."
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option("--task", metavar="TASK", help="binary, multiclass or regression."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", metavar="P", help="Binary decision threshold (0.5)."),
    ] = None,
    alias: Annotated[
        str | None, typer.Option("--alias", metavar="ALIAS", help="Alias to move to it.")
    ] = None,
    description: Annotated[
        str, typer.Option("--description", metavar="TEXT", help="Free text.")
    ] = "",
    json_out: JsonOpt = False,
) -> None:
    """Register a model trained outside Shipyard (a saved file), with a bundle like any other."""
    from ..errors import ConfigError
    from ..registry.imports import import_model_file, register_model

    def read_json(path: Path | None, what: str) -> Any:
        if path is None:
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}", field=what) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", file=str(path)
            ) from None

    model = import_model_file(file, framework)
    version = register_model(
        model,
        name=name,
        signature=read_json(signature, "--signature"),
        example=read_json(example, "--example"),
        task=task,
        threshold=threshold,
        description=description,
        alias=alias,
        source={"file": str(file.resolve())},
    )
    if json_out:
        echo_json(version.to_dict())
        return
    console().print(
        f"registered {version.ref} from {file} (imported, no gate ran)"
        + (f" as {name}@{alias}" if alias else "")
    )
