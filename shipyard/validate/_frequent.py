"""Most frequent values: a mergeable Misra–Gries summary fed with whole value counts.

Each chunk arrives already counted (``pyarrow.compute.value_counts``, or run
lengths of a sorted chunk), so the Python work per chunk is bounded by the
capacity, never by the rows. The summary keeps at most ``capacity`` counters.
When it would hold more, the ``capacity + 1``-th largest count is subtracted
from every counter and the ones left at zero or below are dropped; that is the
merge of Agarwal et al., "Mergeable summaries" (PODS 2012), so summaries of
shards merge in any order. Every stored count is a lower bound of the true one
and at most ``offset`` below it; with ``offset == 0`` (fewer distinct values
than the capacity) all counts are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["DEFAULT_CAPACITY", "FrequentItems"]

DEFAULT_CAPACITY = 1024
I64 = npt.NDArray[np.int64]


def _threshold(counts: I64, capacity: int) -> int:
    """The ``capacity + 1``-th largest count (``len(counts) > capacity``)."""
    big = counts[counts > 1]
    # Continuous values make chunks of ones: no partition needed then.
    if big.size <= capacity:
        return 1
    return int(np.partition(big, big.size - capacity - 1)[big.size - capacity - 1])


class FrequentItems:
    """Counts of the most frequent values of one column.

    Parameters
    ----------
    capacity
        The most counters kept.
    """

    __slots__ = ("capacity", "counts", "offset")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.counts: dict[Any, int] = {}
        self.offset = 0

    def update(self, keys: npt.NDArray[Any] | pa.Array, counts: I64) -> None:
        """Add ``counts[i]`` occurrences of ``keys[i]``; the keys are distinct."""
        if counts.size > self.capacity:
            cut = _threshold(counts, self.capacity)
            self.offset += cut
            keep = np.flatnonzero(counts > cut)
            if keep.size == 0:
                return
            counts = counts[keep] - cut
            keys = keys.take(pa.array(keep)) if isinstance(keys, pa.Array) else keys[keep]
        self._add(
            keys.to_pylist() if isinstance(keys, pa.Array) else keys.tolist(), counts.tolist()
        )

    def update_distinct(self, keys: npt.NDArray[Any]) -> None:
        """Add one occurrence of each of ``keys`` (distinct values)."""
        if keys.size > self.capacity:
            # Reducing a chunk of ones removes all of it: only the offset moves.
            self.offset += 1
            return
        self._add(keys.tolist(), [1] * keys.size)

    def _add(self, keys: Sequence[Any], counts: Sequence[int]) -> None:
        table = self.counts
        for key, count in zip(keys, counts, strict=True):
            table[key] = table.get(key, 0) + count
        if len(table) > self.capacity:
            values = np.fromiter(table.values(), dtype=np.int64, count=len(table))
            cut = _threshold(values, self.capacity)
            self.offset += cut
            self.counts = {k: c - cut for k, c in table.items() if c > cut}

    def merge(self, other: FrequentItems) -> None:
        """Add ``other``'s counts; ``other`` is left unchanged."""
        self.offset += other.offset
        self._add(list(other.counts), list(other.counts.values()))

    def top(self, k: int | None = None) -> list[tuple[Any, int]]:
        """The ``k`` largest counters (all when ``None``), largest first, ties by value."""
        items = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return items if k is None else items[:k]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, counters in :meth:`top` order."""
        items = self.top()
        return {
            "capacity": self.capacity,
            "offset": self.offset,
            "values": [k for k, _ in items],
            "counts": [c for _, c in items],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrequentItems:
        """The inverse of :meth:`to_dict`."""
        summary = cls(int(d["capacity"]))
        summary.offset = int(d["offset"])
        summary.counts = dict(zip(d["values"], (int(c) for c in d["counts"]), strict=True))
        return summary

    def copy(self) -> FrequentItems:
        """An independent copy."""
        other = FrequentItems(self.capacity)
        other.counts, other.offset = dict(self.counts), self.offset
        return other
