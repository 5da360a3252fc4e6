"""Adaptive batching: concurrent requests to one model grouped into one model call.

One task per model takes every request queued, runs them as one batch in the
model's own thread (the event loop keeps accepting meanwhile), and hands each
request its slice of the output, in order. When nothing else is queued or on
its way, a request runs at once: batching never adds latency to a lone
request (a small one even runs on the event loop itself, skipping the hop to
the model's thread). While requests are still being read and checked
(``arriving``), the task waits for them up to ``max_wait``.

A request past its deadline when the batch forms is answered 504 without
running; a model call already running cannot be interrupted, so the maximum
batch size bounds the worst case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from ..errors import RequestError
from ._model import ServedModel
from ._signature import Checked

__all__ = ["Batcher"]

log = logging.getLogger("shipyard.serve")


@dataclass
class _Item:
    columns: Checked
    rows: int
    deadline: float
    future: asyncio.Future[pa.Table]


class Batcher:
    """The queue and batching task of one model in one worker.

    Parameters
    ----------
    model
        The model called.
    max_batch_size
        Most requests in one model call.
    max_wait_s
        Longest wait for requests still arriving once a batch has started forming.
    max_rows
        Most rows in one model call (a single larger request still runs alone).
    observe
        Called with (requests in the batch, requests still queued) after each batch forms.
    inline_rows
        A request of at most this many rows that finds the model idle and nothing
        else queued or arriving runs at once on the event loop, without the thread hop.
    """

    def __init__(
        self,
        model: ServedModel,
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_rows: int,
        observe: Callable[[int, int], None] | None = None,
        inline_rows: int = 16,
    ) -> None:
        self.model = model
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_rows = max_rows
        self.observe = observe
        self.arriving = 0
        self.batches = 0
        self.largest = 0
        self.inline_rows = inline_rows
        self._busy = False
        self._queue: deque[_Item] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"model-{model.name}")

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def busy(self) -> bool:
        """A model call is running."""
        return self._busy

    async def submit(self, columns: Checked, rows: int, deadline: float) -> pa.Table:
        """Queue checked columns; return their predictions once their batch has run."""
        if (
            not self._busy
            and not self._queue
            and self.arriving == 0
            and rows <= self.inline_rows
            and time.monotonic() <= deadline
        ):
            # Alone: run now on the event loop. A small call costs less than the hop to the
            # model's thread and back, and there is nothing else to read meanwhile.
            self._busy = True
            try:
                if self.observe is not None:
                    self.observe(1, 0)
                self.batches += 1
                self.largest = max(self.largest, 1)
                table = self.model.predict([columns])
                # Still busy for one turn of the loop: requests that arrived meanwhile are
                # read now, find the model busy and queue, so under load calls overlap and
                # batch instead of running one by one on the loop.
                await asyncio.sleep(0)
                return table
            finally:
                self._busy = False
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run())
        future: asyncio.Future[pa.Table] = loop.create_future()
        self._queue.append(_Item(columns, rows, deadline, future))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    def _take(self, batch: list[_Item], rows: int) -> int:
        now = time.monotonic()
        while self._queue and len(batch) < self.max_batch_size:
            item = self._queue[0]
            if batch and rows + item.rows > self.max_rows:
                break
            self._queue.popleft()
            if item.future.done():  # the client went away
                continue
            if now > item.deadline:
                item.future.set_exception(
                    RequestError("the request passed its deadline (limits.timeout_ms) queued", 504)
                )
                continue
            batch.append(item)
            rows += item.rows
        return rows

    async def _run(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                wakeup.clear()
                await wakeup.wait()
            batch: list[_Item] = []
            rows = self._take(batch, 0)
            end = time.monotonic() + self.max_wait_s
            while self.arriving > 0 and len(batch) < self.max_batch_size and rows < self.max_rows:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                wakeup.clear()
                try:
                    await asyncio.wait_for(wakeup.wait(), remaining)
                except TimeoutError:
                    break
                rows = self._take(batch, rows)
            if not batch:
                continue
            if self.observe is not None:
                self.observe(len(batch), len(self._queue))
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            parts = [item.columns for item in batch]
            self._busy = True
            try:
                table = await loop.run_in_executor(self._executor, self.model.predict, parts)
            except Exception as exc:  # noqa: BLE001 - every waiting request must get an answer
                log.exception("model %s:%s failed on a batch", self.model.name, self.model.version)
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            finally:
                self._busy = False
            offset = 0
            for item in batch:
                if not item.future.done():
                    item.future.set_result(table.slice(offset, item.rows))
                offset += item.rows

    async def close(self) -> None:
        """Stop the batching task and the model's thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False)
