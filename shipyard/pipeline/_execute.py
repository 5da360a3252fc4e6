"""Run one node: load its inputs, seed, call the function, store its outputs.

This is what a worker process (or the inline executor) does for each task. It
touches only the artifact store, never the metadata store: the parent records
the result, so there is one writer per run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import MaterializerError
from ..store.artifacts import ArtifactStore
from .context import STEP, StepContext
from .dag import Graph, substitute
from .environment import seed_everything, uninstall_numpy_hook
from .materializers import Metrics, load_value, save_value
from .step import Output

__all__ = ["execute", "output_names", "peak_rss_reset", "peak_rss_bytes"]


def output_key(out: Output) -> str:
    return out.node if out.index is None else f"{out.node}[{out.index}]"


def output_names(n_outputs: int | None) -> list[str]:
    return ["output"] if not n_outputs else [f"output[{i}]" for i in range(n_outputs)]


def peak_rss_reset() -> None:
    """Reset the kernel's high-water mark of this process's RSS (Linux), so each step gets its own."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def _redirect_fds(log_path: str) -> Iterator[None]:
    """Send stdout and stderr to the step log: file descriptors 1 and 2 (C code and
    subprocesses) and Python's ``sys.stdout``/``sys.stderr``, which a host such as
    Jupyter or pytest may have pointed elsewhere."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a", buffering=1) as fh:
        try:
            os.dup2(fh.fileno(), 1)
            os.dup2(fh.fileno(), 2)
            with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for f in saved:
                os.close(f)


@contextlib.contextmanager
def _redirect_python(log_path: str) -> Iterator[None]:
    """Inline mode: capture only Python-level output, leaving the terminal's fds alone."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with (
        open(log_path, "a") as fh,
        contextlib.redirect_stdout(fh),
        contextlib.redirect_stderr(fh),
    ):
        yield


def execute(
    graph: Graph, task: dict[str, Any], store: ArtifactStore, *, in_worker: bool
) -> dict[str, Any]:
    """Run ``task`` and return a plain, picklable result."""
    node = graph.nodes[task["node"]]
    started = time.time()
    peak_rss_reset()
    ctx = StepContext(
        run_id=task["run_id"], node=node.name, seed=task["seed"], scratch=_scratch(store)
    )
    redirect = _redirect_fds if in_worker else _redirect_python
    result: dict[str, Any] = {"node": node.name, "started_at": started}
    try:
        with redirect(task["log_path"]):
            digests: dict[str, str] = task["inputs"]

            def resolve(out: Output) -> Any:
                return load_value(digests[output_key(out)], store, allow_pickle=task["unsafe_ok"])

            kwargs = {k: substitute(v, resolve) for k, v in node.args.items()}
            seed_everything(task["seed"])
            token = STEP.set(ctx)
            try:
                value = node.step.fn(**kwargs)
            finally:
                STEP.reset(token)
                uninstall_numpy_hook()
            values = _split(node.name, node.step.n_outputs, value)
            infos = []
            for v in values:
                if isinstance(v, Metrics):
                    for k, m in v.items():
                        ctx.metrics.append((k, float(m), 0, time.time()))
                infos.append(save_value(v, store, allow_pickle=node.step.options.allow_pickle))
        result.update(status="succeeded", outputs=infos)
        if ctx.scratch is not None:
            shutil.rmtree(ctx.scratch, ignore_errors=True)
    except BaseException as exc:  # noqa: BLE001 - every failure of user code is reported, not raised
        if isinstance(exc, KeyboardInterrupt) and not in_worker:
            raise
        result.update(
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
        if ctx.scratch is not None:  # partial outputs of a failed step are discarded
            shutil.rmtree(ctx.scratch, ignore_errors=True)
    result.update(
        ended_at=time.time(),
        peak_rss_bytes=peak_rss_bytes(),
        metrics=ctx.metrics,
        params=ctx.params,
        inexact=ctx.inexact,
    )
    return result


def _scratch(store: ArtifactStore) -> Path:
    """A folder beside the store's staging area (same filesystem: moves are renames).

    Named like staging folders (``PID-...``) so that a crash's leftovers are
    removed by ``clean_staging`` once this process is gone.
    """
    local = getattr(store, "staging_root", None)
    base = Path(local) if local is not None else Path(tempfile.gettempdir())
    return base / f"{os.getpid()}-scratch-{uuid.uuid4().hex[:12]}"


def _split(node: str, n_outputs: int | None, value: Any) -> list[Any]:
    if not n_outputs:
        return [value]
    if not isinstance(value, tuple) or len(value) != n_outputs:
        got = f"a tuple of {len(value)}" if isinstance(value, tuple) else type(value).__name__
        raise MaterializerError(
            f"step '{node}' is annotated to return {n_outputs} values (tuple[...]) but returned {got}"
        )
    return list(value)
