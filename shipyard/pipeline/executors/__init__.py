"""Executors by name: ``local`` (worker processes, the default), ``inline`` and ``ray``.

Third-party executors register under the ``shipyard.executors`` entry point.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ...errors import ConfigError
from .base import Executor

__all__ = ["Executor", "EXECUTORS", "make_executor"]

# name -> "module:class", imported only when chosen (Ray is heavy and optional).
EXECUTORS: dict[str, str] = {
    "local": "shipyard.pipeline.executors.local:LocalExecutor",
    "inline": "shipyard.pipeline.executors.inline:InlineExecutor",
}


def make_executor(name: str, **options: Any) -> Executor:
    """Build the executor called ``name``.

    Raises
    ------
    ConfigError
        For a name that is neither built in nor registered by an entry point.
    """
    target = EXECUTORS.get(name)
    if target is None:
        from importlib.metadata import entry_points

        eps = {ep.name: ep.value for ep in entry_points(group="shipyard.executors")}
        target = eps.get(name)
    if target is None:
        raise ConfigError(
            f"unknown executor {name!r}; expected one of {sorted(EXECUTORS)}"
            + (" (the Ray executor arrives with the ray issue)" if name == "ray" else ""),
            field="executor.kind",
        )
    module, _, cls = target.partition(":")
    executor: Executor = getattr(import_module(module), cls)(**options)
    return executor
