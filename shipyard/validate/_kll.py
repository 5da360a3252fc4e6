"""A KLL quantile sketch in NumPy that reads and writes Apache DataSketches' format.

Why not ``datasketches.kll_doubles_sketch`` itself:

- its ``update`` costs about 26 ns per value even from an array, more than the
  whole per-value budget of the statistics pass. Here a chunk of values is
  sorted once with ``np.sort`` (about 3.5 ns per value) and enters the sketch
  as one sorted level, which the compaction rule then halves level by level
  with strided slices;
- its coin flips are seeded from the clock, so the same data gives different
  bytes on every run and an artifact's digest would never repeat. Here the
  coin is a hash of the sketch's own state, so equal inputs give equal bytes.

The level capacities and the compaction rule are DataSketches'
(``kll_helper::general_compress``), so its error bound holds: compacting a
sorted level of any size adds at most one item weight of rank error, and
taking a whole sorted chunk at once only means fewer compactions than value by
value updates would make. The bytes load in ``kll_doubles_sketch.deserialize``
(C++/Python; Java reads the float variant only), which the tests check.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["KLL", "normalized_rank_error"]

F64 = npt.NDArray[np.float64]

DEFAULT_K = 200
_M = 8  # DataSketches' minimum level width
_FAMILY = 15
_EMPTY, _LEVEL_ZERO_SORTED, _SINGLE_ITEM = 1, 2, 4
_MASK64 = (1 << 64) - 1


def normalized_rank_error(k: int, pmf: bool = False) -> float:
    """DataSketches' empirical 99%-confidence rank error of a KLL sketch with parameter ``k``."""
    return 2.446 / math.pow(k, 0.9433) if pmf else 2.296 / math.pow(k, 0.9723)


def _cap_aux_aux(k: int, depth: int) -> int:
    # round(k * (2/3) ** depth) in integers, exactly as kll_helper::int_cap_aux_aux.
    return int((((2 * k) << depth) // 3**depth + 1) >> 1)


def _cap_aux(k: int, depth: int) -> int:
    if depth <= 30:
        return _cap_aux_aux(k, depth)
    half = depth // 2
    return _cap_aux_aux(_cap_aux_aux(k, half), depth - half)


def _level_capacity(k: int, num_levels: int, height: int) -> int:
    return max(_M, _cap_aux(k, num_levels - height - 1))


def _total_capacity(k: int, num_levels: int) -> int:
    return sum(_level_capacity(k, num_levels, h) for h in range(num_levels))


def _coin(n: int, level: int) -> int:
    """A fair bit that depends only on the sketch's state (splitmix64 of n and level)."""
    z = (n * 64 + level + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 63


def _merge_sorted(a: F64, b: F64) -> F64:
    if a.size == 0:
        return b.copy()
    if b.size == 0:
        return a.copy()
    # Timsort finds the two runs and merges them in one linear pass.
    return np.sort(np.concatenate((a, b)), kind="stable")


class KLL:
    """KLL sketch of float64 values; level ``h`` holds sorted items of weight ``2**h``.

    Parameters
    ----------
    k
        Size parameter; the rank error is about ``normalized_rank_error(k)``.
    """

    __slots__ = ("_view", "k", "levels", "max", "min", "min_k", "n")

    def __init__(self, k: int = DEFAULT_K) -> None:
        self.k = k
        self.min_k = k
        self.n = 0
        self.min = math.nan
        self.max = math.nan
        self.levels: list[F64] = [np.empty(0)]
        self._view: tuple[F64, npt.NDArray[np.int64]] | None = None

    @property
    def retained(self) -> int:
        """Number of items kept."""
        return sum(lv.size for lv in self.levels)

    def normalized_rank_error(self, pmf: bool = False) -> float:
        """The rank error bound of this sketch (from its smallest ``k``)."""
        return normalized_rank_error(self.min_k, pmf)

    def update_sorted(self, values: F64) -> None:
        """Add finite values, sorted ascending. Nothing keeps a reference to ``values``.

        A large chunk is first halved on its own, as strided views, until it is
        no larger than ``2 k``: the same compactions KLL would make (fewer, in
        fact), without allocating the big intermediate levels, whose page
        faults would otherwise cost more than the sort.
        """
        if values.size == 0:
            return
        self.n += int(values.size)
        lo, hi = float(values[0]), float(values[-1])
        self.min = lo if not self.min <= lo else self.min
        self.max = hi if not self.max >= hi else self.max
        view, h = values, 0
        while view.size > 2 * self.k:
            odd = view.size & 1
            self._add(h, view[:odd])
            view = view[odd + _coin(self.n, h) :: 2]
            h += 1
        self._add(h, view)
        self._compress()

    def _add(self, height: int, items: F64) -> None:
        while len(self.levels) <= height:
            self.levels.append(np.empty(0))
        self.levels[height] = _merge_sorted(self.levels[height], items)

    def merge(self, other: KLL) -> None:
        """Add everything ``other`` holds; ``other`` is left unchanged."""
        if other.n == 0:
            return
        self.n += other.n
        self.min_k = min(self.min_k, other.min_k)
        self.min = other.min if not self.min <= other.min else self.min
        self.max = other.max if not self.max >= other.max else self.max
        for h, level in enumerate(other.levels):
            self._add(h, level)
        self._compress()

    def _compress(self) -> None:
        """One bottom-up pass of DataSketches' ``general_compress``."""
        self._view = None
        k, levels = self.k, self.levels
        num_levels = len(levels)
        count = self.retained
        target = _total_capacity(k, num_levels)
        h = 0
        while True:
            if h == num_levels - 1:
                levels.append(np.empty(0))
            level = levels[h]
            if count >= target and level.size >= _level_capacity(k, num_levels, h):
                odd = level.size & 1
                # An odd item stays behind (the smallest, as DataSketches keeps the first).
                half = level[odd + _coin(self.n, h) :: 2]
                levels[h] = level[:odd].copy()
                levels[h + 1] = _merge_sorted(levels[h + 1], half)
                count -= half.size
                if h == num_levels - 1:
                    num_levels += 1
                    target += _level_capacity(k, num_levels, 0)
            if h == num_levels - 1:
                break
            h += 1
        del levels[num_levels:]

    # Queries -------------------------------------------------------------------------

    def _sorted_view(self) -> tuple[F64, npt.NDArray[np.int64]]:
        if self._view is None:
            items = np.concatenate(self.levels)
            weights = np.concatenate(
                [np.full(lv.size, 1 << h, dtype=np.int64) for h, lv in enumerate(self.levels)]
            )
            order = np.argsort(items, kind="stable")
            self._view = (items[order], np.cumsum(weights[order]))
        return self._view

    def items(self) -> F64:
        """The retained items, sorted (the points where the sketch's CDF steps)."""
        return self._sorted_view()[0]

    def rank(self, values: Sequence[float] | F64, inclusive: bool = True) -> F64:
        """Estimated fraction of values ``<= x`` (``< x`` when not inclusive) for each ``x``."""
        x = np.asarray(values, dtype=np.float64)
        if self.n == 0:
            return np.full(x.shape, math.nan)
        items, cum = self._sorted_view()
        idx = np.searchsorted(items, x, side="right" if inclusive else "left")
        below = np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0)
        out: F64 = below / float(self.n)
        return out

    def quantiles(self, ranks: Sequence[float] | F64) -> F64:
        """Estimated values at normalized ranks in [0, 1] (inclusive search, as DataSketches)."""
        q = np.asarray(ranks, dtype=np.float64)
        if self.n == 0:
            return np.full(q.shape, math.nan)
        items, cum = self._sorted_view()
        idx = np.searchsorted(cum, np.ceil(q * self.n), side="left")
        out: F64 = items[np.minimum(idx, items.size - 1)]
        # The exact extremes are known even when compaction dropped them.
        out = np.where(q <= 0.0, self.min, np.where(q >= 1.0, self.max, out))
        return out

    # DataSketches serialization ------------------------------------------------------

    def serialize(self) -> bytes:
        """The sketch in DataSketches' ``kll_sketch<double>`` binary format."""
        head = struct.pack("<HBB", self.k, _M, 0)
        if self.n == 0:
            return struct.pack("<BBBB", 2, 1, _FAMILY, _EMPTY | _LEVEL_ZERO_SORTED) + head
        if self.n == 1:
            flags = _SINGLE_ITEM | _LEVEL_ZERO_SORTED
            return struct.pack("<BBBB", 2, 2, _FAMILY, flags) + head + struct.pack("<d", self.min)
        num_levels = len(self.levels)
        capacity = _total_capacity(self.k, num_levels)
        retained = self.retained
        if retained > capacity:  # pragma: no cover - compaction keeps this from happening
            raise RuntimeError(f"KLL holds {retained} items, more than its capacity {capacity}")
        offsets, at = [], capacity - retained
        for level in self.levels:
            offsets.append(at)
            at += level.size
        return b"".join(
            [
                struct.pack("<BBBB", 5, 1, _FAMILY, _LEVEL_ZERO_SORTED),
                head,
                struct.pack("<QHBB", self.n, self.min_k, num_levels, 0),
                struct.pack(f"<{num_levels}I", *offsets),
                struct.pack("<dd", self.min, self.max),
                np.concatenate(self.levels).astype("<f8").tobytes(),
            ]
        )

    @classmethod
    def deserialize(cls, data: bytes) -> KLL:
        """Read DataSketches' ``kll_sketch<double>`` bytes (ours or DataSketches' own)."""
        if len(data) < 8:
            raise ValueError(f"KLL sketch bytes are too short ({len(data)} bytes)")
        pre_ints, version, family, flags, k, m, _ = struct.unpack_from("<BBBBHBB", data)
        if family != _FAMILY or m != _M or version not in (1, 2):
            raise ValueError(
                f"not a KLL double sketch: family {family}, serial version {version}, m {m}"
                f" (expected family {_FAMILY}, version 1 or 2, m {_M})"
            )
        sketch = cls(k)
        if flags & _EMPTY:
            return sketch
        if flags & _SINGLE_ITEM:
            (value,) = struct.unpack_from("<d", data, 8)
            sketch.n, sketch.min, sketch.max = 1, value, value
            sketch.levels = [np.array([value])]
            return sketch
        if pre_ints != 5:
            raise ValueError(f"KLL sketch has {pre_ints} preamble ints, expected 5")
        n, min_k, num_levels, _ = struct.unpack_from("<QHBB", data, 8)
        offsets = list(struct.unpack_from(f"<{num_levels}I", data, 20))
        at = 20 + 4 * num_levels
        lo, hi = struct.unpack_from("<dd", data, at)
        capacity = _total_capacity(k, num_levels)
        items = np.frombuffer(data, dtype="<f8", count=capacity - offsets[0], offset=at + 16)
        offsets.append(capacity)
        base = offsets[0]
        levels = [
            items[offsets[h] - base : offsets[h + 1] - base].astype(np.float64)
            for h in range(num_levels)
        ]
        if not flags & _LEVEL_ZERO_SORTED:
            levels[0].sort()
        sketch.n, sketch.min_k, sketch.min, sketch.max, sketch.levels = n, min_k, lo, hi, levels
        return sketch

    def copy(self) -> KLL:
        """An independent copy."""
        other = KLL(self.k)
        other.min_k, other.n, other.min, other.max = self.min_k, self.n, self.min, self.max
        other.levels = [lv.copy() for lv in self.levels]
        return other
