"""Runs tasks in a pool of forked worker processes on this machine.

Workers are forked once per run, after the pipeline is traced, so they
inherit the user's functions without pickling them; a task is only a small
dict. Each worker runs one task at a time. A task past its timeout has its
worker killed and replaced; a worker that dies (OOM killer, segfault,
``os._exit``) is reported as that task's failure, never as a hang.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from ...store.artifacts import ArtifactStore
from .._execute import execute
from ..dag import Graph

__all__ = ["LocalExecutor"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the engine dies (kill -9 included)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _worker_main(conn: Connection, graph: Graph, store: ArtifactStore) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    try:
        while True:
            try:
                task = conn.recv()
            except EOFError:
                break
            if task is None:  # the engine's "stop": EOF alone is not enough, since
                break  # sibling workers forked later hold copies of this pipe's other end
            conn.send(execute(graph, task, store, in_worker=True))
    finally:
        # Skip atexit handlers: they belong to the parent (database pools, progress bars).
        os._exit(0)


class _Worker:
    def __init__(self, ctx: Any, graph: Graph, store: ArtifactStore) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, graph, store), daemon=True)
        self.process.start()
        child.close()
        self.task: dict[str, Any] | None = None
        self.deadline: float | None = None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, AttributeError):
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class LocalExecutor:
    """A pool of forked processes; ``workers`` defaults to the number of CPUs."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.max_workers = workers or os.cpu_count() or 1
        self._workers: list[_Worker] = []

    def start(self, graph: Graph, store: ArtifactStore, parallelism: int) -> None:
        self._ctx = multiprocessing.get_context("fork")
        self._graph, self._store = graph, store
        n = max(1, min(self.max_workers, parallelism))
        self._workers = [_Worker(self._ctx, graph, store) for _ in range(n)]

    def can_submit(self) -> bool:
        return any(w.task is None for w in self._workers)

    def submit(self, task: dict[str, Any]) -> None:
        worker = next(w for w in self._workers if w.task is None)
        worker.task = task
        timeout = task.get("timeout_s")
        worker.deadline = time.monotonic() + timeout if timeout else None
        worker.conn.send(task)

    def wait(self, timeout: float | None) -> list[dict[str, Any]]:
        busy = [w for w in self._workers if w.task is not None]
        if not busy:
            return []
        deadlines = [w.deadline for w in busy if w.deadline is not None]
        if deadlines:
            until = max(0.0, min(deadlines) - time.monotonic())
            timeout = until if timeout is None else min(timeout, until)
        handles: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(handles, timeout))
        results = []
        for w in busy:
            task = w.task
            assert task is not None
            if w.conn in ready:
                try:
                    results.append({**w.conn.recv(), "task": task})
                    w.task = w.deadline = None
                    continue
                except (EOFError, OSError):
                    pass  # died while sending: handled as a death below
            died = w.process.sentinel in ready or not w.process.is_alive()
            late = w.deadline is not None and time.monotonic() >= w.deadline
            if died or late:
                if died:
                    w.process.join(5)  # reap it, so that its exit code is known
                code = w.process.exitcode
                w.kill()
                if late and not died:
                    error = f"TimeoutError: the step ran past its timeout of {task['timeout_s']}s"
                else:
                    how = (
                        f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                    )
                    error = f"WorkerDied: the worker process running the step died ({how})"
                results.append(
                    {
                        "node": task["node"],
                        "status": "failed",
                        "error": error,
                        "traceback": None,
                        "started_at": None,
                        "ended_at": time.time(),
                        "peak_rss_bytes": None,
                        "metrics": [],
                        "params": {},
                        "task": task,
                    }
                )
                self._workers[self._workers.index(w)] = _Worker(self._ctx, self._graph, self._store)
        return results

    def shutdown(self) -> None:
        for w in self._workers:
            with contextlib.suppress(OSError):
                if w.task is None:
                    w.conn.send(None)
                w.conn.close()
        deadline = time.monotonic() + 2
        for w in self._workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():  # still running an abandoned task
                w.kill()
        self._workers = []
