"""Several worker processes on one socket: started, replaced when they die, drained together.

uvicorn's own supervisor restarts a dead worker, but its workers run uvicorn's
plain server (no drain) and, once it has forwarded a SIGTERM, it waits for
them without end: a second SIGTERM does nothing. :class:`Supervisor` binds the
socket once, starts the workers (spawned, each running a
:class:`~shipyard.serve._shutdown.GracefulServer`), and then every 0.1 s:

- a worker that died (``kill -9``, out of memory, a crash) is replaced by a new
  one on the same socket; its pid and exit status are logged, its metric files
  are marked dead. A worker that exits by itself before it serves (the app or
  its models did not load), or that dies before serving five times in a row,
  stops the server instead (status 3, uvicorn's startup failure): restarting
  would fail the same way;
- the first SIGTERM or SIGINT is forwarded to every worker (each drains within
  the grace period); workers still alive a few seconds after it are killed;
- a second SIGTERM or SIGINT is forwarded too (each worker exits at once), and
  the supervisor exits with status 128 + the signal's number.

Workers run in a process group of their own, so a Ctrl-C in a terminal reaches
the supervisor only, which forwards it once, instead of every process at once.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.context import SpawnProcess
from socket import socket
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from ._shutdown import GracefulServer

__all__ = ["Supervisor"]

log = logging.getLogger("shipyard.serve")
# Sockets travel to spawned workers through multiprocessing's reduction.
multiprocessing.allow_connection_pickling()
_spawn = multiprocessing.get_context("spawn")
# Seconds the supervisor waits past the grace period before it kills a worker.
_MARGIN_S = 5.0
_MAX_EARLY_DEATHS = 5


def _work(
    config: uvicorn.Config, sockets: list[socket], grace_s: float, ready: Any, parent: int
) -> None:
    """A worker's entry point (in the spawned process)."""
    os.setpgrp()
    config.configure_logging()
    server = GracefulServer(config, grace_s, ready=ready, parent=parent)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)


class _Worker:
    def __init__(self, config: uvicorn.Config, sock: socket, grace_s: float) -> None:
        self.ready = _spawn.Event()
        self.process: SpawnProcess = _spawn.Process(
            target=_work,
            args=(config, [sock], grace_s, self.ready, os.getpid()),
            name="shipyard-serve-worker",
        )
        self.process.start()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)


class Supervisor:
    """Runs ``workers`` processes serving ``config`` until SIGTERM or SIGINT.

    Parameters
    ----------
    config
        uvicorn's config (its app an import string, loaded in each worker).
    workers
        How many worker processes serve at once.
    grace_s
        Each worker's grace period after the first signal.
    """

    def __init__(self, config: uvicorn.Config, workers: int, grace_s: float) -> None:
        self.config = config
        self.count = workers
        self.grace_s = grace_s
        self.workers: list[_Worker] = []
        self.signals: list[int] = []
        self.stopping_since: float | None = None
        self.early_deaths = 0

    def run(self) -> int:
        """Serve until stopped; return the exit status (0 after a drained shutdown)."""
        sock = self.config.bind_socket()
        previous = {
            sig: signal.signal(sig, lambda s, _: self.signals.append(s))
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.workers = [self._start(sock) for _ in range(self.count)]
            return self._loop(sock)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sock.close()

    def _start(self, sock: socket) -> _Worker:
        worker = _Worker(self.config, sock, self.grace_s)
        log.info("worker %d started", worker.pid)
        return worker

    def _loop(self, sock: socket) -> int:
        while True:
            time.sleep(0.1)
            while self.signals:
                sig = self.signals.pop(0)
                name = signal.Signals(sig).name
                if self.stopping_since is not None:
                    log.warning("second %s: stopping the workers now", name)
                    for worker in self.workers:
                        worker.signal(signal.SIGTERM)
                    self._reap(wait_s=1.0)
                    return 128 + sig
                log.info("%s: draining %d worker(s)", name, len(self.workers))
                self.stopping_since = time.monotonic()
                for worker in self.workers:
                    worker.signal(signal.SIGTERM)
            if self.stopping_since is not None:
                alive = [w for w in self.workers if w.process.is_alive()]
                if not alive:
                    self._reap(wait_s=0)
                    return 0
                if time.monotonic() - self.stopping_since > self.grace_s + _MARGIN_S:
                    log.error("%d worker(s) did not stop in time: killed", len(alive))
                    self._reap(wait_s=0)
                    return 1
                continue
            status = self._replace_dead(sock)
            if status is not None:
                return status

    def _replace_dead(self, sock: socket) -> int | None:
        for index, worker in enumerate(self.workers):
            if worker.process.is_alive():
                continue
            worker.process.join()
            code = worker.process.exitcode
            _mark_dead(worker.pid)
            served = worker.ready.is_set()
            self.early_deaths = 0 if served else self.early_deaths + 1
            # Exiting by itself before it served (the app or its models failed to
            # load) would happen again; a signal (kill -9 while loading) would not.
            exited = code is not None and code > 0
            if (exited and not served) or self.early_deaths >= _MAX_EARLY_DEATHS:
                log.error("worker %d failed to start (status %s): stopping", worker.pid, code)
                for other in self.workers:
                    other.signal(signal.SIGTERM)
                self._reap(wait_s=self.grace_s)
                return STARTUP_FAILURE
            how = f"signal {-code}" if code is not None and code < 0 else f"status {code}"
            log.warning("worker %d died (%s); starting a replacement", worker.pid, how)
            self.workers[index] = self._start(sock)
        return None

    def _reap(self, wait_s: float) -> None:
        """Join the workers, killing those still alive after ``wait_s`` seconds."""
        deadline = time.monotonic() + wait_s
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            _mark_dead(worker.pid)


def _mark_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (in-flight, queue depth) from the summed metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
