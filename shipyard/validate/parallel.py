"""Statistics of many Parquet shards, computed in parallel processes and merged.

Each shard is summarized on its own (a worker reads it batch by batch) and the
mergeable results are combined: counts and moments exactly, sketches within
their error bounds. Used for Datasets read back from the store.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from .stats import DatasetStatistics

__all__ = ["shard_statistics"]


def _one(path: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    stats = DatasetStatistics()
    for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
        stats.update(batch)
    return stats.to_dict()


def shard_statistics(files: Sequence[Path], *, workers: int | None = None) -> DatasetStatistics:
    """The statistics of all ``files`` together, one shard per task, merged in file order."""
    merged = DatasetStatistics()
    if not files:
        return merged
    n = max(1, min(workers or os.cpu_count() or 1, len(files)))
    if n == 1:
        for f in files:
            merged.merge(DatasetStatistics.from_dict(_one(str(f))))
        return merged
    with ProcessPoolExecutor(max_workers=n, mp_context=get_context("fork")) as pool:
        for part in pool.map(_one, [str(f) for f in files]):
            merged.merge(DatasetStatistics.from_dict(part))
    return merged
