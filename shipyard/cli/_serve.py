"""``shipyard serve``: the model server over registered versions or an exported bundle."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ConfigError
from ._format import console

if TYPE_CHECKING:
    from ..serve import ServePlan

__all__ = ["register"]


def _serve_config(*, need_project: bool) -> Any:
    """The project's ``serve`` section, or the defaults outside a project (``--bundle``)."""
    from ..config import CONFIG_FILE, ServeConfig, find_project_root
    from ..pipeline.project import Project

    try:
        project = Project.discover()
    except ConfigError:
        # Only a missing project falls back to the defaults: a broken shipyard.yaml
        # (say auth enabled with no token) must not start a server without its auth.
        if need_project or (find_project_root() / CONFIG_FILE).is_file():
            raise
        return ServeConfig()
    try:
        return project.config.serve
    finally:
        project.close()


def _plan(
    refs: list[str],
    bundle: Path | None,
    stack: contextlib.ExitStack,
    threads: int,
    traffic: list[Any] | None = None,
    shadow: list[str] | None = None,
) -> ServePlan:
    from ..bundle._files import read_manifest
    from ..bundle.bundle import extract_archive
    from ..serve import ModelSource, ServePlan
    from ..serve._run import bundle_version

    if bundle is not None:
        if refs:
            raise ConfigError("give NAME@ALIAS references or --bundle DIR, not both")
        folder = bundle
        if bundle.is_file() and bundle.name.endswith((".tar.gz", ".tgz")):
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shipyard-serve-")))
            folder = extract_archive(bundle, tmp)
        if not (folder / "bundle.json").is_file():
            raise ConfigError(f"no bundle at {bundle}: expected a folder with bundle.json")
        name = str(read_manifest(folder).get("name", ""))
        source = ModelSource(str(folder), bundle_version(folder), name)
        if traffic or shadow:
            raise ConfigError("serve.traffic and serve.shadow need the registry, not --bundle")
        return ServePlan([source], threads=threads)
    if not refs and not traffic:
        raise ConfigError("name the models: NAME@ALIAS ..., or --bundle DIR for an exported bundle")
    from ._models import version_bundle

    sources = []
    names = set()
    # serve.traffic: versions of a model, heaviest first (the primary); an alias is
    # followed (hot swap), a NAME:VERSION pinned.
    for route in sorted(traffic or [], key=lambda r: -r.weight):
        version, folder = version_bundle(route.ref)
        follow = route.ref if "@" in route.ref else None
        source = ModelSource(str(folder), str(version.version), version.name, follow, route.weight)
        sources.append(source)
    names = {source.name for source in sources}
    # serve.shadow: versions sent a copy of each request of their model, answers compared.
    for ref in shadow or []:
        version, folder = version_bundle(ref)
        follow = ref if "@" in ref else None
        source = ModelSource(str(folder), str(version.version), version.name, follow, None, True)
        sources.append(source)
    for ref in refs:
        version, folder = version_bundle(ref)
        if version.name in names:
            raise ConfigError(f"model {version.name!r} is named twice; serve one version of each")
        names.add(version.name)
        sources.append(ModelSource(str(folder), str(version.version), version.name, ref))
    from ..pipeline.project import Project

    project = Project.discover()
    root = str(project.root)
    project.close()
    return ServePlan(sources, threads=threads, root=root)


def serve(
    refs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME@ALIAS",
            help="Registered versions to serve (the first one answers /predict and /invocations).",
        ),
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle",
            metavar="DIR",
            help="Serve an exported bundle (folder or .tar.gz), no store.",
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Interface to bind; 0.0.0.0 opens it to the network."),
    ] = None,
    port: Annotated[int | None, typer.Option("--port", min=0, max=65535, help="TCP port.")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Server processes.")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="Threads per model call in each worker; default: the CPUs / the workers.",
        ),
    ] = None,
    poll: Annotated[
        float,
        typer.Option(
            "--poll",
            min=0.05,
            metavar="SECONDS",
            help="How often each worker checks the registry for a moved alias (hot swap).",
        ),
    ] = 1.0,
    log_dir: Annotated[
        Path | None,
        typer.Option(
            "--log-dir",
            metavar="DIR",
            help="Prediction log folder; default: serve.log.path, else <project>/.shipyard/"
            "predictions (none with --bundle unless given).",
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="One JSON line per request.")
    ] = True,
    trust_code: Annotated[
        bool,
        typer.Option("--trust-code", help="Load a bundle that holds model code (runs that code)."),
    ] = False,
) -> None:
    """Serve models over HTTP: Open Inference Protocol V2, MLflow scoring and /predict."""
    from ..config import parse_duration
    from ..serve import ServeSettings, threads_per_worker
    from ..serve._auth import load_tokens
    from ..serve._run import run

    config = _serve_config(need_project=bundle is None)
    workers = workers or config.workers
    per_worker = threads_per_worker(workers, threads)
    with contextlib.ExitStack() as stack:
        plan = _plan(list(refs or []), bundle, stack, per_worker, config.traffic, config.shadow)
        plan.settings = ServeSettings.from_config(config).to_dict()
        plan.trust_code = trust_code
        plan.poll_s = poll
        plan.log_queue = config.log.queue_size
        plan.grace_s = config.grace_period_s
        retention = config.log.retention
        plan.log_retention_s = parse_duration(retention).total_seconds() if retention else None
        plan.log_max_bytes = config.log.max_bytes
        if config.auth.enabled:
            plan.auth_tokens = load_tokens(config.auth)
            plan.open_routes = list(config.auth.open_routes)
        if log_dir is not None:
            plan.log_dir = str(log_dir.resolve())
        elif config.log.enabled and plan.root is not None:
            path = config.log.path
            plan.log_dir = str(path) if path else str(Path(plan.root) / ".shipyard" / "predictions")
        models = ", ".join(f"{m.name}:{m.version}" for m in plan.models)

        def announce(url: str) -> None:
            console().print(
                f"serving {models} on {url} ({workers} worker(s), {per_worker} thread(s) per"
                " model call)",
                highlight=False,
                soft_wrap=True,
            )

        run(
            plan,
            host=host or config.host,
            port=config.port if port is None else port,
            workers=workers,
            access_log=access_log,
            announce=announce,
        )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
