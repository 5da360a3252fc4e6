"""Distinct counts: stable 64-bit hashes of whole arrays and a NumPy HyperLogLog.

The hashes must be the same in every process and every release, since sketches
written today are merged with sketches written later: so no Python ``hash()``
(salted per process) and no Arrow internals (free to change). Numbers hash as
the bits of their float64 value through splitmix64's finalizer, so an int
column and the same column read as float (pandas turns ints with nulls into
floats) count the same values. Strings hash as a polynomial over their UTF-8
bytes modulo 2**64, computed for a whole Arrow array at once, then through the
same finalizer. Changing either function changes the meaning of every stored
sketch; bump ``HASH_VERSION`` if that ever has to happen.

``datasketches.hll_sketch`` takes one value per Python call, which would cost
more than the rest of the pass together; these registers are plain NumPy
(``np.maximum.at``), merged by an elementwise maximum, and estimated with
Ertl's improved raw estimator (arXiv:1702.01284), which needs no bias tables
and is accurate from one value up.
"""

from __future__ import annotations

import base64
import math
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ._scratch import buffer

__all__ = ["HASH_VERSION", "HyperLogLog", "hash_floats", "hash_strings"]

U64 = npt.NDArray[np.uint64]

HASH_VERSION = 1
P = 14  # 2**14 registers: standard error 1.04 / 128 = 0.81%
M = 1 << P
Q = 64 - P  # hash bits left for the rank
_LOW = np.uint64((1 << Q) - 1)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_POLY = 0x100000001B3  # the FNV-1 prime: odd, so powers of it never vanish mod 2**64
_powers: U64 = np.ones(1, dtype=np.uint64)


def _finalize(z: U64) -> None:
    """splitmix64's output function, in place (the constant has been added already)."""
    t = buffer("hash.tmp", z.size, np.uint64)
    np.right_shift(z, _S30, out=t)
    z ^= t
    z *= _MIX1
    np.right_shift(z, _S27, out=t)
    z ^= t
    z *= _MIX2
    np.right_shift(z, _S31, out=t)
    z ^= t


def hash_floats(values: npt.NDArray[np.float64]) -> U64:
    """Hashes of float64 values (``-0.0`` must already be ``0.0``); a reused work array."""
    z = buffer("hash.out", values.size, np.uint64)
    np.add(values.view(np.uint64), _GOLDEN, out=z)
    _finalize(z)
    return z


def _power_table(length: int) -> U64:
    global _powers
    if _powers.size < length:
        table = np.full(max(length, 2 * _powers.size), _POLY, dtype=np.uint64)
        table[0] = 1
        # Integer overflow wraps silently for arrays: exactly arithmetic mod 2**64.
        _powers = np.cumprod(table, dtype=np.uint64)
    return _powers[:length]


def hash_strings(array: pa.Array) -> U64:
    """Hashes of the values of a ``string`` or ``large_string`` array without nulls."""
    n = len(array)
    width = 8 if pa.types.is_large_string(array.type) else 4
    _, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(
        offsets_buf,
        dtype=np.int64 if width == 8 else np.int32,
        count=n + 1,
        offset=array.offset * width,
    ).astype(np.int64)
    lengths = np.diff(offsets)
    base, total = int(offsets[0]), int(offsets[-1] - offsets[0])
    poly = np.zeros(n, dtype=np.uint64)
    if total:
        data = np.frombuffer(data_buf, dtype=np.uint8, count=total, offset=base)
        starts = offsets[:-1] - base
        position = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
        # Bytes count from 1 so that a trailing NUL still changes the hash.
        terms = data.astype(np.uint64) + np.uint64(1)
        terms *= _power_table(int(lengths.max()))[position]
        filled = lengths > 0
        poly[filled] = np.add.reduceat(terms, starts[filled])
    poly ^= lengths.astype(np.uint64) * _MIX2
    poly += _GOLDEN
    _finalize(poly)
    return poly


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        z_old = z
        z += x * y
        y += y
        if z == z_old:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        z_old = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == z_old:
            return z / 3.0


class HyperLogLog:
    """HyperLogLog with 2**14 one-byte registers over 64-bit hashes."""

    __slots__ = ("registers",)

    def __init__(self) -> None:
        self.registers = np.zeros(M, dtype=np.uint8)

    def add(self, hashes: U64) -> None:
        """Count the values whose hashes are given."""
        if hashes.size == 0:
            return
        regs = self.registers
        low = buffer("hll.low", hashes.size, np.uint64)
        np.bitwise_and(hashes, _LOW, out=low)
        floor = int(regs.min())
        if floor:
            # A hash whose rank is not above every register changes nothing. Once the
            # registers fill up that is almost all of them, so filter before the rank.
            keep = np.flatnonzero(low < np.uint64(1 << (Q - floor)))
            if keep.size == 0:
                return
            hashes, low = hashes[keep], low[keep]
        # rank = Q + 1 - bit_length(low); frexp of (2 low + 1), exact below 2**53, gives
        # bit_length(low) + 1 as its exponent.
        low <<= np.uint64(1)
        low |= np.uint64(1)
        mantissa = buffer("hll.mantissa", low.size, np.float64)
        exponent = buffer("hll.exponent", low.size, np.int32)
        np.frexp(low.view(np.int64), out=(mantissa, exponent))
        rank = (Q + 2 - exponent).astype(np.uint8)
        index = buffer("hll.index", hashes.size, np.uint64)
        np.right_shift(hashes, np.uint64(Q), out=index)
        np.maximum.at(regs, index.view(np.int64), rank)

    def merge(self, other: HyperLogLog) -> None:
        """Union with ``other``."""
        np.maximum(self.registers, other.registers, out=self.registers)

    def estimate(self) -> float:
        """Estimated number of distinct values (Ertl's improved raw estimator)."""
        counts = np.bincount(self.registers, minlength=Q + 2).tolist()
        z = M * _tau(1.0 - counts[Q + 1] / M)
        for k in range(Q, 0, -1):
            z = 0.5 * (z + counts[k])
        z += M * _sigma(counts[0] / M)
        return M * M / (2.0 * math.log(2.0) * z)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the registers, zlib-compressed and base64-encoded."""
        packed = base64.b64encode(zlib.compress(self.registers.tobytes(), 6)).decode()
        return {"p": P, "hash": HASH_VERSION, "registers": packed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HyperLogLog:
        """The inverse of :meth:`to_dict`."""
        if d.get("p") != P or d.get("hash") != HASH_VERSION:
            raise ValueError(
                f"HyperLogLog with p={d.get('p')} and hash version {d.get('hash')}"
                f" cannot be read; this version writes p={P}, hash version {HASH_VERSION}"
            )
        hll = cls()
        raw = zlib.decompress(base64.b64decode(d["registers"]))
        hll.registers = np.frombuffer(raw, dtype=np.uint8).copy()
        if hll.registers.size != M:
            raise ValueError(f"HyperLogLog has {hll.registers.size} registers, expected {M}")
        return hll

    def copy(self) -> HyperLogLog:
        """An independent copy."""
        other = HyperLogLog()
        other.registers = self.registers.copy()
        return other
