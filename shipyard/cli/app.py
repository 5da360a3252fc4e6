"""The command tree. Each verb is a thin layer over the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError
from . import _inspect, _predict, _serve, _tune
from ._data import data_app
from ._format import console, echo_json, fmt_bytes, short
from ._models import models_app
from ._monitor import monitor_app

app = typer.Typer(
    name="shipyard",
    help="From notebook functions to a monitored model endpoint.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Show and check shipyard.yaml.", no_args_is_help=True)
app.add_typer(config_app, name="config")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    project: Annotated[
        Path | None,
        typer.Option("--project", "-C", metavar="DIR", help="Run as if started in this folder."),
    ] = None,
) -> None:
    """From notebook functions to a monitored model endpoint."""
    if project is not None:
        import os

        if not project.is_dir():
            raise ConfigError(f"--project {project}: no such folder")
        os.chdir(project)


def _parse_kv(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


@app.command()
def init(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="[FOLDER | DATA_FILE]",
            help="Folder of a new project, or a data file (.csv, .parquet, .jsonl) to write a"
            " shipyard.yaml for.",
        ),
    ] = Path("."),
    target: Annotated[
        str | None,
        typer.Option(metavar="COLUMN", help="Column to predict; required with DATA_FILE."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Project name (the folder's, or the data file's name)."),
    ] = None,
    task: Annotated[
        str,
        typer.Option(metavar="TASK", help="DATA_FILE: auto, binary, multiclass or regression."),
    ] = "auto",
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", metavar="DIR", help="DATA_FILE: folder of the shipyard.yaml (default: here)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="DATA_FILE: overwrite an existing shipyard.yaml.")
    ] = False,
) -> None:
    """Scaffold a project, or write a working shipyard.yaml for DATA_FILE --target COLUMN."""
    from ._init_data import init_command, is_data_file

    if folder.is_file() or (is_data_file(folder) and not folder.is_dir()):
        init_command(folder, target, name=name, task=task, directory=directory, force=force)
        return
    given = [
        opt
        for opt, value in (("--target", target), ("--dir", directory), ("--force", force))
        if value
    ] + (["--task"] if task != "auto" else [])
    if given:
        raise ConfigError(
            f"{' and '.join(given)} need a data file (.csv, .parquet, .jsonl);"
            f" {str(folder)!r} is a folder. Use: shipyard init DATA_FILE --target COLUMN"
        )
    from ._scaffold import scaffold

    written = scaffold(folder, name)
    out = console()
    for p in written:
        out.print(f"wrote {p}")
    out.print(f"next: cd {folder} && shipyard run pipeline.py:demo")


@app.command("run")
def run_cmd(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="[TARGET]",
            help="FILE.py:PIPELINE or module:PIPELINE; default: `pipeline` of shipyard.yaml.",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="Pipeline parameter; repeatable."),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step again.")] = False,
    resume: Annotated[
        str | None,
        typer.Option("--resume", metavar="RUN", help="Finish a failed or killed run (its ID)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(metavar="N", help="Run seed (default: `seed` of shipyard.yaml).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="Run name (default: PIPELINE-N).")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="KEY=VALUE", help="Run tag; repeatable.")
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(metavar="KIND", help="local (worker processes) or inline (this process)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Worker processes (default: CPUs).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a pipeline: cached steps are reused, everything is recorded."""
    from ..pipeline.loader import load_pipeline
    from ..pipeline.project import Project
    from ..pipeline.runner import run
    from ._params import coerce_params
    from ._progress import Progress

    project = Project.discover()
    if target is None and resume:
        old = project.metadata.resolve_run(resume)
        target = _absolute_source(project, old["source"])
    target = target or project.config.pipeline
    if not target:
        config_file = project.root / "shipyard.yaml"
        if not (config_file.is_file() and project.config.data.source is not None):
            raise ConfigError(
                "no pipeline given: pass FILE.py:PIPELINE, set `pipeline:` in shipyard.yaml,"
                " or describe the data in its `data:` section for the standard pipeline"
            )
        target = str(config_file)
    pipe = load_pipeline(target)
    params = coerce_params(pipe, _parse_kv(param or [], "--param"))
    with Progress(enabled=not json_out) as progress:
        result = run(
            pipe,
            params=params,
            no_cache=no_cache,
            seed=seed,
            name=name,
            tags=_parse_kv(tag or [], "--tag"),
            resume=resume,
            project=project,
            executor=executor,
            workers=workers,
            progress=progress.update,
        )
    summary = _inspect.run_summary(result.details)
    if json_out:
        echo_json(summary)
        return
    _inspect.print_run_result(result.details, project)


_inspect.register(app)  # runs, show, compare, lineage: listed after `run` in --help
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.add_typer(monitor_app, name="monitor")
_predict.register(app)
_serve.register(app)
_tune.register(app)


def _absolute_source(project: Any, source: str) -> str:
    if source.endswith((".yaml", ".yml")):
        return source if Path(source).is_absolute() else str(project.root / source)
    path, _, fn = source.rpartition(":")
    if path.endswith(".py") and not Path(path).is_absolute():
        return f"{project.root / path}:{fn}"
    return source


@app.command()
def reproduce(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run ID, prefix or name.")],
    json_out: JsonOpt = False,
) -> None:
    """Re-execute a run with its recorded parameters, seed and inputs; compare every output digest."""
    from ..pipeline.reproduce import reproduce as do_reproduce

    result = do_reproduce(run_ref)
    if json_out:
        echo_json(
            {
                "original": result.original,
                "replay": result.replay,
                "identical": result.identical,
                "exact": result.exact,
                "nodes": result.nodes,
                "packages_changed": result.packages_changed,
            }
        )
    else:
        _inspect.print_reproduction(result)
    if not result.identical:
        raise typer.Exit(1)


@app.command()
def gc(
    older_than: Annotated[
        float | None,
        typer.Option(
            metavar="DAYS", help="Retention in days (default: store.gc_retention_days, 30)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, delete nothing.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete artifacts that no run, model version or alias references, after the retention period."""
    from ..pipeline.project import Project
    from ..store.gc import collect_garbage

    project = Project.discover()
    days = project.config.store.gc_retention_days if older_than is None else older_than
    report = collect_garbage(
        project.metadata, project.artifacts, retention_days=days, dry_run=dry_run
    )
    if json_out:
        echo_json(report.__dict__)
        return
    verb = "would delete" if dry_run else "deleted"
    out = console()
    for d in report.deleted:
        out.print(f"{verb} {short(d)}")
    out.print(
        f"{verb} {len(report.deleted)} artifact(s), {fmt_bytes(report.freed_bytes)};"
        f" kept {report.kept_recent} unreferenced younger than {days:g} days"
    )


@config_app.command("show")
def config_show(json_out: JsonOpt = False) -> None:
    """Print the project's effective config, secrets masked."""
    from ..pipeline.project import Project

    project = Project.discover()
    data = project.config.masked_dump()
    if json_out:
        echo_json(data)
        return
    import yaml

    console().print(f"# project root: {project.root}")
    console().print(yaml.safe_dump(data, sort_keys=False).rstrip(), markup=False)


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of shipyard.yaml (for editors and CI checks)."""
    from ..config import export_json_schema

    echo_json(export_json_schema())


@config_app.command("check")
def config_check(
    path: Annotated[Path, typer.Argument(metavar="[PATH]", help="The file to check.")] = Path(
        "shipyard.yaml"
    ),
) -> None:
    """Validate a shipyard.yaml; exit 2 with the file, line and field of each problem."""
    from ..config import load_config

    if not path.is_file():
        raise ConfigError("no such file", file=str(path))
    load_config(path)
    console().print(f"{path}: ok")
