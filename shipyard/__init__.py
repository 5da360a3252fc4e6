"""Shipyard: from notebook functions to a production ML system.

The public API. Names are imported on first use, so ``import shipyard``
stays fast for the CLI and for servers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Bound eagerly: the decorators share their name with the ``shipyard.pipeline``
# subpackage, and binding them here, after that subpackage is imported, keeps
# ``shipyard.pipeline`` the decorator whatever is imported later.
from .pipeline.dag import pipeline as pipeline  # noqa: E402
from .pipeline.step import step as step  # noqa: E402

_API = {
    "run": "shipyard.pipeline.runner",
    "Run": "shipyard.pipeline.results",
    "Metrics": "shipyard.pipeline.materializers",
    "Materializer": "shipyard.pipeline.materializers",
    "register_materializer": "shipyard.pipeline.materializers",
    "log_metric": "shipyard.pipeline.context",
    "log_metrics": "shipyard.pipeline.context",
    "log_param": "shipyard.pipeline.context",
    "log_params": "shipyard.pipeline.context",
    "current_seed": "shipyard.pipeline.context",
    "start_run": "shipyard.pipeline.tracking",
    "runs": "shipyard.pipeline.api",
    "get_run": "shipyard.pipeline.api",
    "load_artifact": "shipyard.pipeline.api",
    "Project": "shipyard.pipeline.project",
    "register_model": "shipyard.registry.imports",
    "load_bundle": "shipyard.bundle",
}

__all__ = sorted([*_API, "pipeline", "step", "__version__"])

if TYPE_CHECKING:
    from .bundle import load_bundle as load_bundle
    from .pipeline.api import get_run as get_run
    from .pipeline.api import load_artifact as load_artifact
    from .pipeline.api import runs as runs
    from .pipeline.context import current_seed as current_seed
    from .pipeline.context import log_metric as log_metric
    from .pipeline.context import log_metrics as log_metrics
    from .pipeline.context import log_param as log_param
    from .pipeline.context import log_params as log_params
    from .pipeline.materializers import Materializer as Materializer
    from .pipeline.materializers import Metrics as Metrics
    from .pipeline.materializers import register_materializer as register_materializer
    from .pipeline.project import Project as Project
    from .pipeline.results import Run as Run
    from .pipeline.runner import run as run
    from .pipeline.tracking import start_run as start_run
    from .registry.imports import register_model as register_model


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
