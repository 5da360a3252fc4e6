"""Printing for the CLI: aligned rich tables for people, JSON for scripts."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

__all__ = ["console", "echo_json", "fmt_bytes", "fmt_duration", "fmt_time", "short"]


def console(stderr: bool = False) -> Any:
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output (logs, CI, `| less`) gets a wide page rather than rich's 80 columns.
    width = None if stream.isatty() else int(os.environ.get("COLUMNS") or 160)
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def echo_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def short(digest: str | None, n: int = 12) -> str:
    return (digest or "-")[:n]


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | dict):
        return json.dumps(v)
    return str(v)
