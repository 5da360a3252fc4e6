"""``@pipeline``: trace a function that calls steps into a graph of nodes.

Tracing runs the pipeline function once with its parameters; each step call
adds a node and returns :class:`Output` placeholders, so the graph is exactly
what the function's code says, loops included (each call is its own node).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PipelineDefinitionError
from .step import Output, Step, _where

__all__ = ["Graph", "Node", "Pipeline", "current_graph", "pipeline"]

_CURRENT: contextvars.ContextVar[Graph | None] = contextvars.ContextVar("graph", default=None)


def current_graph() -> Graph | None:
    """The graph being traced in this context, if any."""
    return _CURRENT.get()


@dataclass
class Node:
    """One call of a step inside a pipeline."""

    name: str
    step: Step[..., Any]
    args: dict[str, Any]  # parameter name -> literal value or Output (possibly nested in lists)
    where: tuple[str, int]  # file and line of the call, for error messages
    upstream: list[str] = field(default_factory=list)

    def literals(self) -> dict[str, Any]:
        """The arguments that are plain values (the step's own parameters)."""
        return {k: v for k, v in self.args.items() if not _has_output(v)}

    def inputs(self) -> dict[str, Any]:
        """The arguments that carry outputs of other steps."""
        return {k: v for k, v in self.args.items() if _has_output(v)}


def _has_output(value: Any) -> bool:
    if isinstance(value, Output):
        return True
    if isinstance(value, list | tuple):
        return any(_has_output(v) for v in value)
    if isinstance(value, dict):
        return any(_has_output(v) for v in value.values())
    return False


def iter_outputs(value: Any, path: str) -> Iterator[tuple[str, Output]]:
    """Every Output inside ``value`` with a name for it (``arg``, ``arg[0]``, ``arg[key]``)."""
    if isinstance(value, Output):
        yield path, value
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from iter_outputs(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_outputs(v, f"{path}[{k}]")


def substitute(value: Any, resolve: Callable[[Output], Any]) -> Any:
    """Replace each Output inside ``value`` by ``resolve(output)``."""
    if isinstance(value, Output):
        return resolve(value)
    if isinstance(value, list):
        return [substitute(v, resolve) for v in value]
    if isinstance(value, tuple):
        return tuple(substitute(v, resolve) for v in value)
    if isinstance(value, dict):
        return {k: substitute(v, resolve) for k, v in value.items()}
    return value


class Graph:
    """The nodes of one traced pipeline, in the order they were called (a topological order)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def add(
        self,
        step: Step[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        where: tuple[str, int],
    ) -> Any:
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise PipelineDefinitionError(
                f"{where[0]}:{where[1]}: calling step '{step.name}': {exc}"
            ) from None
        bound.apply_defaults()
        name = step.name
        n = 2
        while name in self.nodes:
            name = f"{step.name}_{n}"
            n += 1
        node = Node(name, step, dict(bound.arguments), where)
        for _, out in (p for k, v in node.args.items() for p in iter_outputs(v, k)):
            if out.node not in self.nodes:
                raise PipelineDefinitionError(
                    f"{where[0]}:{where[1]}: step '{name}' got an output of '{out.node}',"
                    " which belongs to another pipeline"
                )
            if out.node not in node.upstream:
                node.upstream.append(out.node)
        for k, v in node.literals().items():
            _check_literal(v, f"{where[0]}:{where[1]}: step '{name}', argument '{k}'")
        self.nodes[name] = node
        if step.n_outputs:
            return tuple(Output(name, i) for i in range(step.n_outputs))
        return Output(name)

    def downstream(self, name: str) -> list[str]:
        return [n.name for n in self.nodes.values() if name in n.upstream]


def _check_literal(value: Any, where: str) -> None:
    """Step parameters must be values the engine can record and hash."""
    if value is None or isinstance(value, bool | int | float | str | Path):
        return
    if isinstance(value, list | tuple):
        for v in value:
            _check_literal(v, where)
        return
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        for v in value.values():
            _check_literal(v, where)
        return
    raise PipelineDefinitionError(
        f"{where}: a parameter must be a number, string, bool, None, Path or a list/dict of"
        f" those, got {type(value).__name__}; compute such values inside a step instead"
    )


class Pipeline:
    """A function wrapped by :func:`pipeline`. Calling it runs it and returns the run."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.signature = inspect.signature(fn)
        self.source: str = ""  # "file.py:function" when loaded by path; set by the loader
        functools.update_wrapper(self, fn)

    def defaults(self) -> dict[str, Any]:
        return {
            k: p.default
            for k, p in self.signature.parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    def resolve_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``params``; unknown or missing names are errors."""
        known = self.signature.parameters
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise PipelineDefinitionError(
                f"pipeline '{self.name}' has no parameter {', '.join(map(repr, unknown))};"
                f" its parameters are {sorted(known) or 'none'}"
            )
        merged = {**self.defaults(), **params}
        missing = [k for k in known if k not in merged]
        if missing:
            raise PipelineDefinitionError(
                f"pipeline '{self.name}' needs a value for {', '.join(map(repr, missing))}"
                " (pass --param NAME=VALUE)"
            )
        return merged

    def restore(self, recorded: dict[str, Any]) -> dict[str, Any]:
        """Parameters as recorded (JSON) back to the declared types: strings to ``Path``.

        Only the pipeline's own parameters: steps' ``log_param`` values share the run's
        parameter table, and a resumed or replayed run must not pass them back in.
        """
        import typing

        try:
            hints = typing.get_type_hints(self.fn)
        except Exception:  # noqa: BLE001 - unresolvable annotations: keep values as recorded
            hints = {}
        declared = self.signature.parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in declared.values()):
            recorded = {k: v for k, v in recorded.items() if k in declared}
        out = dict(recorded)
        for key, value in recorded.items():
            hint = hints.get(key)
            wants_path = hint is Path or Path in typing.get_args(hint)
            default = self.signature.parameters.get(key)
            if default is not None and isinstance(default.default, Path):
                wants_path = True
            if wants_path and isinstance(value, str):
                out[key] = Path(value)
        return out

    def trace(self, params: dict[str, Any]) -> Graph:
        """Run the function with placeholders and return the graph of step calls."""
        graph = Graph()
        token = _CURRENT.set(graph)
        try:
            self.fn(**params)
        finally:
            _CURRENT.reset(token)
        if not graph.nodes:
            raise PipelineDefinitionError(
                f"pipeline '{self.name}' ({_where(self.fn)}) called no @step; decorate the"
                " functions it calls with @shipyard.step"
            )
        return graph

    def __call__(self, **params: Any) -> Any:
        """Run the pipeline in this process's project and return the finished run."""
        if current_graph() is not None:
            raise PipelineDefinitionError("a pipeline cannot be called inside another pipeline")
        from .runner import run

        return run(self, **params)

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


def pipeline(fn: Callable[..., Any] | None = None, /, *, name: str | None = None) -> Any:
    """Turn a function that calls steps into a pipeline (``@pipeline`` or ``@pipeline(name=...)``)."""
    if fn is not None:
        return Pipeline(fn, name)
    return lambda f: Pipeline(f, name)
