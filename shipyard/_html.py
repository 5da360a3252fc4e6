"""The shell and the atomic write shared by Shipyard's static HTML reports."""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

__all__ = ["page", "write_atomic"]


def page(title: str, body: str, css: str) -> str:
    """A self-contained page: inline styles, images as data: URIs, no script, no network."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{html.escape(title, quote=True)}</title><style>{css}</style></head>\n"
        f"<body><main>\n{body}\n<footer>Made by Shipyard</footer></main></body></html>\n"
    )


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file renamed over it.

    A reader never sees half a report, and a crash leaves the old one.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be shared
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
