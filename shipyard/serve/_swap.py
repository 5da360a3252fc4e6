"""Hot swap: each worker watches the registry aliases it serves and switches atomically.

Every ``poll_s`` seconds a worker asks the registry which version each served
``NAME@ALIAS`` names (in a thread of its own, off the request path). When the
alias moved, the worker loads the new bundle (digests checked) and warms it,
still in that thread, while the old version keeps answering; then it switches
model and batcher in one step on the event loop. Requests already queued finish
on the old version, whose batcher closes once it is empty. A version that fails
to load or warm is logged and counted once, and the old version keeps serving.

Besides each model's primary, a ``serve.traffic`` version or a shadow whose
reference is an alias is watched too, in its slot (``("traffic", name, i)``,
``("shadow", name, 0)``): the canary's share or the shadow's copies go to the
alias's new version.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ._model import ServedModel

if TYPE_CHECKING:
    from ._batch import Batcher

__all__ = ["Watcher"]

log = logging.getLogger("shipyard.serve")


class Watcher:
    """Polls the registry for the served aliases of one worker.

    Parameters
    ----------
    server
        The app's server state (``swap``, ``models``, ``metrics``).
    refs
        Served model name, or slot (role, name, index), to its ``NAME@ALIAS`` reference.
    root
        The project folder whose store holds the registry.
    poll_s
        Seconds between polls.
    threads
        Threads per model call of the models loaded.
    """

    def __init__(
        self,
        server: Any,
        refs: dict[str, str] | dict[tuple[str, str, int], str],
        root: str,
        poll_s: float,
        threads: int,
    ) -> None:
        self.server = server
        self.refs: dict[tuple[str, str, int], str] = {
            key if isinstance(key, tuple) else ("primary", key, 0): ref for key, ref in refs.items()
        }
        self.root = root
        self.poll_s = poll_s
        self.threads = threads
        self.failed: set[tuple[str, str]] = set()
        self._project: Any = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="shipyard-watch")

    def _resolve(self, ref: str) -> tuple[str, str]:
        """The version a reference names now, and its artifact digest (in the watch thread)."""
        from ..pipeline.project import Project
        from ..registry import Registry

        if self._project is None:
            self._project = Project.discover(self.root)
        version = Registry(self._project).get(ref)
        return str(version.version), version.artifact

    def _load(self, artifact: str, version: str) -> ServedModel:
        from ..bundle import load_bundle

        folder = self._project.artifacts.path(artifact, verify=True)
        model = ServedModel(load_bundle(folder), version, threads=self.threads)
        model.warm()
        return model

    async def poll_once(self) -> None:
        """Check every served alias once; swap those that moved and load."""
        loop = asyncio.get_running_loop()
        for slot, ref in self.refs.items():
            name = slot[1]
            try:
                version, artifact = await loop.run_in_executor(self._executor, self._resolve, ref)
            except Exception:  # noqa: BLE001 - the store may be down: keep serving (RELIABILITY 13)
                log.warning("cannot read %s from the registry; still serving", ref, exc_info=True)
                continue
            current = self.server.served(slot)
            if version == current.version or (name, version) in self.failed:
                continue
            try:
                model = await loop.run_in_executor(self._executor, self._load, artifact, version)
                if model.name != name:
                    raise ValueError(f"the bundle of {ref} is named {model.name!r}, not {name!r}")
            except Exception:  # noqa: BLE001 - a bad version must never stop the old one
                self.failed.add((name, version))
                self.server.metrics.load_failures.labels(name, version).inc()
                log.exception(
                    "%s moved to version %s, which failed to load; version %s keeps serving",
                    ref,
                    version,
                    current.version,
                )
                continue
            old = self.server.swap(model, slot)
            log.info("%s: now serving version %s (was %s)", ref, version, current.version)
            asyncio.ensure_future(_close_when_idle(old))

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.poll_s)
            await self.poll_once()

    def close(self) -> None:
        self._executor.shutdown(wait=False)
        if self._project is not None:
            self._project.close()


async def _close_when_idle(batcher: Batcher) -> None:
    while batcher.depth or batcher.busy or batcher.arriving:
        await asyncio.sleep(0.05)
    await batcher.close()
