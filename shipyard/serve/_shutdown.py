"""Graceful shutdown of a worker: drain on the first SIGTERM, exit at once on the second.

uvicorn's own handler stops accepting connections at the first signal, closes
idle keep-alive connections, and force-exits only on a second SIGINT. A
server behind a load balancer needs more: readiness must turn false at once
(so the balancer stops sending), requests that still arrive on open
connections must get a clean 503 rather than a closed socket, and a second
SIGTERM (the orchestrator losing patience) must end the process.

:class:`GracefulServer` does that. At the first SIGTERM or SIGINT it tells the
app to drain (``Drain.start``: readiness and health 503, new inference
requests 503 with ``Retry-After`` and ``Connection: close``), waits until the
app's in-flight inference requests are done or the grace period is over, and
only then lets uvicorn shut down (listener closed, connections finished within
what is left of the grace period, then the app's shutdown, which flushes the
prediction log). After a graceful shutdown the process exits with status 0.
A second SIGTERM or SIGINT exits at once with status 128 + the signal's number,
without waiting for anything (the prediction log's queue is lost).

The app offers its drain through uvicorn's lifespan state, under
:data:`DRAIN_KEY`: an object with ``start()`` and an ``idle`` property.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from types import FrameType
from typing import Any, Protocol

import uvicorn

__all__ = ["DRAIN_KEY", "Drain", "GracefulServer"]

DRAIN_KEY = "shipyard.drain"
log = logging.getLogger("shipyard.serve")


class Drain(Protocol):
    """What the app offers the server for a graceful shutdown."""

    def start(self) -> None:
        """Turn readiness false and refuse new inference requests (503)."""

    @property
    def idle(self) -> bool:
        """True when no inference request is being answered."""


class GracefulServer(uvicorn.Server):
    """uvicorn's server that drains the app before it shuts down, within a grace period.

    Parameters
    ----------
    config
        uvicorn's config.
    grace_s
        Seconds from the first signal to the end of the shutdown: in-flight
        requests still running then are cancelled.
    ready
        Set once the server serves (a ``multiprocessing.Event``; the supervisor
        tells a worker that failed to start from one that died later).
    parent
        The supervisor's process id: a worker whose parent is gone drains and exits.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        grace_s: float = 30.0,
        ready: Any = None,
        parent: int | None = None,
    ) -> None:
        super().__init__(config)
        self.grace_s = grace_s
        self.ready = ready
        self.parent = parent
        self.draining_since: float | None = None
        self._app_drained = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn's handler is not called: it would record the signal and raise it
        # again once the server returns, and a drained shutdown is a clean exit (0).
        if self.draining_since is not None:
            name = signal.Signals(sig).name
            log.warning("second %s while draining: exiting now, in-flight requests lost", name)
            for handler in logging.getLogger("shipyard.serve").handlers:
                handler.flush()
            sys.stderr.flush()
            os._exit(128 + sig)
        log.info(
            "%s: draining (readiness 503, new requests 503) for at most %gs",
            signal.Signals(sig).name,
            self.grace_s,
        )
        self.start_draining()

    def start_draining(self) -> None:
        """Drain the app now; the main loop shuts down once it is idle or the grace is over."""
        self.draining_since = time.monotonic()
        self._start_app_drain()

    def _start_app_drain(self) -> None:
        # A signal during startup comes before the app offers its drain: the
        # main loop's first tick passes it on.
        drain = self._drain()
        if drain is not None and not self._app_drained:
            self._app_drained = True
            drain.start()

    def _drain(self) -> Drain | None:
        lifespan = getattr(self, "lifespan", None)
        state = getattr(lifespan, "state", None) or {}
        drain: Drain | None = state.get(DRAIN_KEY)
        return drain

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.ready is not None:
            self.ready.set()

    async def on_tick(self, counter: int) -> bool:
        if self.parent is not None and self.draining_since is None and os.getppid() != self.parent:
            log.warning("the supervisor (pid %d) is gone: draining", self.parent)
            self.start_draining()
        if self.draining_since is not None and not self.should_exit:
            self._start_app_drain()
            drain = self._drain()
            waited = time.monotonic() - self.draining_since
            if drain is None or drain.idle or waited >= self.grace_s:
                # uvicorn waits this long for connections to finish, then cancels them.
                self.config.timeout_graceful_shutdown = max(0.1, self.grace_s - waited)  # type: ignore[assignment]
                self.should_exit = True
        return await super().on_tick(counter)
