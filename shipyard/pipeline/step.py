"""``@step``: a plain function that the engine can cache, retry, time and record.

Called outside a pipeline, a step is just its function. Called while a
``@pipeline`` function is being traced, it adds a node to the graph and hands
back :class:`Output` placeholders instead of running.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar, overload

from ..errors import PipelineDefinitionError

__all__ = ["Output", "Step", "StepOptions", "step"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class StepOptions:
    """How the engine runs one step.

    Parameters
    ----------
    retries
        Extra attempts after a failure, with exponential backoff.
    retry_backoff_s
        Wait before the first retry; doubled for each further one.
    timeout_s
        Wall-clock limit of one attempt; the worker running it is killed.
    cache
        Reuse outputs of an identical earlier execution.
    resources
        Hints for executors that place work (``{"cpus": 2, "gpus": 1}``).
    allow_pickle
        Store return values with no safe format as pickles (marked unsafe).
    packages
        Distributions whose installed versions join the cache key.
    name
        The node name in the graph; the function's name by default.
    """

    retries: int = 0
    retry_backoff_s: float = 1.0
    timeout_s: float | None = None
    cache: bool = True
    resources: dict[str, float] = field(default_factory=dict)
    allow_pickle: bool = False
    packages: tuple[str, ...] = ()
    name: str | None = None

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise PipelineDefinitionError(f"retries must be >= 0, got {self.retries}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise PipelineDefinitionError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.retry_backoff_s < 0:
            raise PipelineDefinitionError(
                f"retry_backoff_s must be >= 0, got {self.retry_backoff_s}"
            )


class Output:
    """A placeholder for a step's return value while a pipeline is being traced."""

    __slots__ = ("node", "index")

    def __init__(self, node: str, index: int | None = None) -> None:
        self.node, self.index = node, index

    def __repr__(self) -> str:
        return f"<output of step '{self.node}'" + (
            f"[{self.index}]>" if self.index is not None else ">"
        )

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise PipelineDefinitionError(
            f"{self!r} is only a placeholder while the pipeline is being built: pass it to"
            " another step, and do the computation on it inside a step"
        )

    __bool__ = __iter__ = __len__ = __getitem__ = __add__ = __sub__ = __mul__ = _refuse
    __truediv__ = __lt__ = __gt__ = __le__ = __ge__ = __float__ = __int__ = _refuse

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # protocols probed by copy, pickle, hasattr ...
            raise AttributeError(name)
        return self._refuse()


def _n_outputs(fn: Callable[..., Any]) -> int | None:
    """How many outputs a ``-> tuple[A, B]`` annotation declares (None: one output)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations just mean "one output"
        return None
    ret = hints.get("return")
    if typing.get_origin(ret) is tuple:
        args = typing.get_args(ret)
        if args and args[-1] is not Ellipsis:
            return len(args)
    return None


def code_digest(fn: Callable[..., Any]) -> str:
    """A fingerprint of a function's code: its source, or its bytecode when no source exists."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
        data = text.encode()
    except (OSError, TypeError):
        code = fn.__code__
        data = code.co_code + repr(code.co_consts).encode() + repr(code.co_names).encode()
    return hashlib.sha256(data).hexdigest()


def source_digest(package: Path) -> str:
    """sha256 over the ``.py`` files under ``package``, with their relative paths."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


@functools.cache
def shipyard_source_digest() -> str:
    """:func:`source_digest` of the installed ``shipyard`` package (once per process)."""
    return source_digest(Path(__file__).resolve().parents[1])


class Step(Generic[P, R]):
    """A function wrapped by :func:`step`."""

    def __init__(self, fn: Callable[P, R], options: StepOptions) -> None:
        if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
            raise PipelineDefinitionError(
                f"@step {fn.__qualname__} ({_where(fn)}): steps must be plain functions that"
                " return their value, not async functions or generators"
            )
        self.fn = fn
        self.options = options
        self.name = options.name or fn.__name__
        self.signature = inspect.signature(fn)
        self.n_outputs = _n_outputs(fn)
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def code_digest(self) -> str:
        own = code_digest(self.fn)
        if self.fn.__module__.partition(".")[0] != "shipyard":
            return own
        # Shipyard's own steps (ingest, train, evaluate ...) call into the whole package:
        # a change anywhere in it (a trainer, the transform) must miss the cache.
        return hashlib.sha256(f"{own}:{shipyard_source_digest()}".encode()).hexdigest()

    @property
    def qualname(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        from .dag import current_graph

        graph = current_graph()
        if graph is None:
            return self.fn(*args, **kwargs)
        caller = sys._getframe(1)
        out: R = graph.add(self, args, kwargs, (caller.f_code.co_filename, caller.f_lineno))
        return out

    def __repr__(self) -> str:
        return f"<step {self.name} ({self.qualname})>"


def _where(fn: Callable[..., Any]) -> str:
    code = getattr(fn, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code else "?"


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(
    *,
    retries: int = 0,
    retry_backoff_s: float = 1.0,
    timeout_s: float | None = None,
    timeout: float | None = None,
    cache: bool = True,
    resources: dict[str, float] | None = None,
    allow_pickle: bool = False,
    packages: tuple[str, ...] | list[str] = (),
    name: str | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Turn a function into a pipeline step (``@step`` or ``@step(retries=2, ...)``).

    Raises
    ------
    PipelineDefinitionError
        An unknown option or an invalid value, naming it.
    """
    if "timeout" in options:  # the spelling most users try first
        options["timeout_s"] = options.pop("timeout")
    known = set(StepOptions.__dataclass_fields__)
    unknown = set(options) - known
    if unknown:
        raise PipelineDefinitionError(
            f"@step got unknown option(s) {sorted(unknown)}; expected some of {sorted(known)}"
        )
    if "packages" in options:
        options["packages"] = tuple(options["packages"])
    if options.get("resources") is None:
        options.pop("resources", None)
    opts = StepOptions(**options)
    if fn is not None:
        return Step(fn, opts)
    return lambda f: Step(f, opts)
