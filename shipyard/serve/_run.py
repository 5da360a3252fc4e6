"""Running the server: uvicorn over bundle folders, in one process or several workers.

The command resolves what it serves (registry references to bundle folders
and versions) once, in the parent; each worker process then loads the
bundles from their folders, with no store connection of its own. The plan
travels to the workers in the ``SHIPYARD_SERVE_PLAN`` environment variable
(JSON), because uvicorn starts workers from an import string.
"""

from __future__ import annotations

import json
import logging
import logging.config
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ModelSource", "ServePlan", "app_from_env", "load_models", "run"]

PLAN_ENV = "SHIPYARD_SERVE_PLAN"


@dataclass
class ModelSource:
    """A bundle folder to serve and the version it is (``name`` from the bundle)."""

    path: str
    version: str
    name: str = ""
    ref: str | None = None
    weight: float | None = None
    shadow: bool = False


@dataclass
class ServePlan:
    """What a worker serves and how: models, batching, limits, threads per model call."""

    models: list[ModelSource]
    settings: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    trust_code: bool = False
    root: str | None = None
    poll_s: float = 1.0
    log_dir: str | None = None
    log_queue: int = 10_000
    auth_tokens: list[tuple[str, list[str]]] | None = None
    open_routes: list[str] = field(default_factory=list)
    grace_s: float = 30.0
    log_retention_s: float | None = None
    log_max_bytes: int | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "models": [vars(m) for m in self.models],
                "settings": self.settings,
                "threads": self.threads,
                "trust_code": self.trust_code,
                "root": self.root,
                "poll_s": self.poll_s,
                "log_dir": self.log_dir,
                "log_queue": self.log_queue,
                "auth_tokens": self.auth_tokens,
                "open_routes": self.open_routes,
                "grace_s": self.grace_s,
                "log_retention_s": self.log_retention_s,
                "log_max_bytes": self.log_max_bytes,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ServePlan:
        raw = json.loads(text)
        return cls(
            models=[ModelSource(**m) for m in raw["models"]],
            settings=dict(raw["settings"]),
            threads=int(raw["threads"]),
            trust_code=bool(raw["trust_code"]),
            root=raw.get("root"),
            poll_s=float(raw.get("poll_s", 1.0)),
            log_dir=raw.get("log_dir"),
            log_queue=int(raw.get("log_queue", 10_000)),
            auth_tokens=[(t, list(s)) for t, s in raw["auth_tokens"]]
            if raw.get("auth_tokens") is not None
            else None,
            open_routes=list(raw.get("open_routes", [])),
            grace_s=float(raw.get("grace_s", 30.0)),
            log_retention_s=raw.get("log_retention_s"),
            log_max_bytes=raw.get("log_max_bytes"),
        )


def load_models(plan: ServePlan) -> list[Any]:
    """Load and warm every bundle of the plan (digests checked first)."""
    from ..bundle import load_bundle
    from ._model import ServedModel

    models = []
    for source in plan.models:
        bundle = load_bundle(source.path, trust_code=plan.trust_code)
        model = ServedModel(bundle, source.version, threads=plan.threads)
        model.warm()
        models.append(model)
    return models


def app_from_env() -> Any:
    """uvicorn's factory in each worker: the app over the plan in ``SHIPYARD_SERVE_PLAN``."""
    from .app import ServeSettings, create_app

    plan = ServePlan.from_json(os.environ[PLAN_ENV])
    # What each followed alias serves: a name's primary, its i-th traffic version, its shadow.
    watch: dict[tuple[str, str, int], str] = {}
    traffic: dict[str, int] = {}
    for m in plan.models:
        index = 0
        if not m.shadow:
            index = traffic[m.name] = traffic.get(m.name, -1) + 1
        if m.ref:
            role = "shadow" if m.shadow else "traffic" if m.weight is not None else "primary"
            watch[(role, m.name, index)] = m.ref
    models = load_models(plan)
    return create_app(
        [m for m, s in zip(models, plan.models, strict=True) if not s.shadow],
        ServeSettings(**plan.settings),
        watch=watch or None,
        root=plan.root,
        poll_s=plan.poll_s,
        threads=plan.threads,
        log_dir=plan.log_dir,
        log_queue=plan.log_queue,
        log_retention_s=plan.log_retention_s,
        log_max_bytes=plan.log_max_bytes,
        auth_tokens=plan.auth_tokens,
        open_routes=plan.open_routes,
        weights=[m.weight for m in plan.models if not m.shadow],
        shadows=[m for m, s in zip(models, plan.models, strict=True) if s.shadow],
    )


def _log_config() -> dict[str, Any]:
    """uvicorn's own logs plus Shipyard's access and error lines, all to stderr."""
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "p"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"p": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "shipyard.serve": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


def run(
    plan: ServePlan,
    *,
    host: str,
    port: int,
    workers: int,
    access_log: bool = True,
    announce: Any = None,
) -> None:
    """Serve the plan until interrupted (SIGINT/SIGTERM drain in-flight requests first).

    One worker serves in this process; several run under a
    :class:`~shipyard.serve._supervise.Supervisor` that replaces those that
    die. Either way the first SIGTERM or SIGINT drains within
    ``plan.grace_s`` seconds and a second one exits at once
    (:mod:`shipyard.serve._shutdown`).

    Parameters
    ----------
    announce
        Called with the URL once the socket is about to be served (the CLI prints it).

    Raises
    ------
    SystemExit
        With uvicorn's startup-failure status (3) when the app did not start,
        or 128 + the signal's number after a second signal.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from ._shutdown import GracefulServer
    from ._supervise import Supervisor

    os.environ[PLAN_ENV] = plan.to_json()
    # OpenMP reads this when the model library first runs: set before any worker loads one.
    os.environ.setdefault("OMP_NUM_THREADS", str(plan.threads))
    with tempfile.TemporaryDirectory(prefix="shipyard-metrics-") as metrics_dir:
        if workers > 1:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        config = _log_config()
        if not access_log:
            config["loggers"]["shipyard.serve.access"] = {"level": "WARNING"}
        logging.config.dictConfig(config)
        if announce is not None:
            shown = f"[{host}]" if ":" in host else host
            announce(f"http://{shown}:{port}")
        sys.stdout.flush()
        uv_config = uvicorn.Config(
            "shipyard.serve._run:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            log_config=config,
            timeout_graceful_shutdown=math.ceil(plan.grace_s),
            server_header=False,
            http="shipyard.serve._tcp:NoDelayHTTPProtocol",
        )
        if workers > 1:
            status = Supervisor(uv_config, workers, plan.grace_s).run()
            if status:
                sys.exit(status)
            return
        server = GracefulServer(uv_config, plan.grace_s)
        server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)


def bundle_version(folder: Path) -> str:
    """The version of a bundle served without a store: the first 12 hex of its manifest's sha256."""
    import hashlib

    return hashlib.sha256((folder / "bundle.json").read_bytes()).hexdigest()[:12]
