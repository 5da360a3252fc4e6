"""Reusable work buffers for the statistics pass.

A fresh NumPy array of a chunk's size (512 KiB for 64 Ki float64) is above
glibc's mmap threshold, so every such temporary costs page faults when it is
allocated and an munmap when it is freed: measured, that tripled the cost of a
chunk. The hot path therefore writes its temporaries into these buffers, one
set per thread, grown on demand and kept.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["buffer"]

_local = threading.local()
_KEEP_AT_MOST = 1 << 18  # elements; the statistics pass asks for 1 << 16


def buffer(name: str, size: int, dtype: type[np.generic] | np.dtype[Any]) -> np.ndarray[Any, Any]:
    """A work array of ``size`` elements, reused by every later call with the same ``name``.

    The contents are whatever the last user left; a caller must be done with
    the array before it asks for the same name again.
    """
    if size > _KEEP_AT_MOST:
        # A rare huge request (a big dictionary's values) is not worth keeping.
        return np.empty(size, dtype=dtype)
    pool: dict[str, np.ndarray[Any, Any]] | None = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    dt = np.dtype(dtype)
    buf = pool.get(name)
    if buf is None or buf.dtype != dt or buf.size < size:
        buf = pool[name] = np.empty(max(size, 1 << 16), dtype=dt)
    return buf[:size]
