"""Find a pipeline from ``path/to/file.py:function`` or ``package.module:function``."""

from __future__ import annotations

import importlib
import importlib.util
import linecache
import sys
from pathlib import Path

from ..errors import PipelineDefinitionError
from .dag import Pipeline

__all__ = ["PIPELINE_FACTORIES", "load_pipeline"]

# Targets that are config files, not code: suffix -> "module:function(path) -> Pipeline".
# A table by name keeps the engine free of imports of the stages the factory builds.
PIPELINE_FACTORIES: dict[str, str] = {
    ".yaml": "shipyard.standard:from_config_file",
    ".yml": "shipyard.standard:from_config_file",
}


def load_pipeline(target: str, *, base: Path | None = None) -> Pipeline:
    """Import the module named by ``target`` and return its ``@pipeline``.

    A file path is resolved against ``base`` (the working directory by default)
    and its folder is put on ``sys.path``, so that it can import its neighbours.

    Raises
    ------
    PipelineDefinitionError
        The file or module does not exist, the name is missing, or it is not a
        ``@pipeline``; the message says which and what is there instead.
    """
    for suffix, factory in PIPELINE_FACTORIES.items():
        if target.endswith(suffix):
            path = Path(target)
            path = path if path.is_absolute() else (base or Path.cwd()) / path
            if not path.is_file():
                raise PipelineDefinitionError(f"pipeline {target!r}: no file {path}")
            module_name, _, func = factory.partition(":")
            built: Pipeline = getattr(importlib.import_module(module_name), func)(path)
            return built
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr:
        raise PipelineDefinitionError(
            f"pipeline {target!r}: expected FILE.py:FUNCTION or package.module:FUNCTION"
        )
    if module_part.endswith(".py") or "/" in module_part:
        path = Path(module_part)
        path = path if path.is_absolute() else (base or Path.cwd()) / path
        if not path.is_file():
            raise PipelineDefinitionError(f"pipeline {target!r}: no file {path}")
        path = path.resolve()
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = path.stem
        # Always execute the file afresh: in a notebook the user may have edited it, and
        # the code fingerprints of its steps must be those of the text on disk now.
        linecache.checkcache(str(path))
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise PipelineDefinitionError(f"pipeline {target!r}: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        previous = sys.modules.get(name)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            if previous is not None:
                sys.modules[name] = previous
            else:
                sys.modules.pop(name, None)
            raise
        source = str(path)
    else:
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            raise PipelineDefinitionError(f"pipeline {target!r}: {exc}") from None
        source = module_part
    obj = getattr(module, attr, None)
    if not isinstance(obj, Pipeline):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, Pipeline))
        what = "is missing" if obj is None else f"is a {type(obj).__name__}, not a @pipeline"
        raise PipelineDefinitionError(
            f"pipeline {target!r}: {attr!r} {what}; pipelines in {module_part}: {found or 'none'}"
        )
    obj.source = f"{source}:{attr}"
    return obj
