"""A live view of the steps of a run, on terminals only (scripts and CI get plain lines)."""

from __future__ import annotations

import sys
import time
import types
from typing import Any

__all__ = ["Progress"]


class Progress:
    """Shows a progress bar over steps with the ones running now; silent when disabled."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.running: dict[str, float] = {}
        self.finished = 0
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            # No auto-refresh thread: workers are forked while this is live, and a
            # thread holding the terminal lock across a fork would deadlock them.
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} steps"),
                TimeElapsedColumn(),
                auto_refresh=False,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("running", total=None)
        return self

    def update(self, event: str, node: str, info: dict[str, Any]) -> None:
        if event == "start":
            self.running[node] = time.time()
        elif event in ("done", "cached", "failed"):
            self.running.pop(node, None)
            self.finished += 1
        elif event == "retry":
            self.running.pop(node, None)
            sys.stderr.write(
                f"step '{node}' failed (attempt {info['attempt']}), retrying: {info['error']}\n"
            )
        if self._bar is not None:
            label = ", ".join(self.running) or "scheduling"
            self._bar.update(self._task, completed=self.finished, description=label)
            self._bar.refresh()

    def set_total(self, total: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, total=total)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
