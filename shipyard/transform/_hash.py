"""Stable 64-bit hashes of strings and row numbers, vectorised over whole arrays.

The hashes decide hashing buckets, extra out-of-vocabulary buckets and the
folds of target encoding, so they must give the same number for the same input
on every machine, Python and library version: Python's ``hash()`` is salted per
process and Arrow exposes no stable hash. Strings get FNV-1a over their UTF-8
bytes, finished with MurmurHash3's ``fmix64`` so that the low bits (which pick
the bucket) depend on every byte. Imports NumPy and pyarrow only: the server
uses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["fmix64", "hash_rows", "hash_strings"]

U64 = npt.NDArray[np.uint64]

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_C1 = np.uint64(0xFF51AFD7ED558CCD)
_C2 = np.uint64(0xC4CEB9FE1A85EC53)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def fmix64(h: U64) -> U64:
    """MurmurHash3's finaliser, in place on ``h`` (uint64 wraps, as intended); returns ``h``."""
    h ^= h >> np.uint64(33)
    h *= _C1
    h ^= h >> np.uint64(33)
    h *= _C2
    h ^= h >> np.uint64(33)
    return h


def hash_rows(rows: npt.NDArray[Any], seed: int) -> U64:
    """A hash of each row number mixed with ``seed`` (for target encoding's folds)."""
    mixed = fmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    h = np.asarray(rows, dtype=np.int64).astype(np.uint64)
    h *= _GOLDEN
    h += mixed
    return fmix64(h)


def _fnv1a(strings: pa.Array) -> U64:
    """FNV-1a of each (non-null) string of a string or large_string array, then fmix64."""
    n = len(strings)
    h = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    if n == 0:
        return h
    offset_type = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[strings.offset : strings.offset + n + 1]
    starts = offsets[:-1].astype(np.int64)
    lengths = np.diff(offsets).astype(np.int64)
    longest = int(lengths.max())
    if longest:
        data = np.frombuffer(buffers[2], dtype=np.uint8)
        # Longest strings first, so that the strings still going at byte j are a prefix:
        # one slice per byte position, and no per-string Python.
        order = np.argsort(-lengths, kind="stable")
        starts_sorted = starts[order]
        still = n - np.searchsorted(np.sort(lengths), np.arange(longest), side="right")
        hs = h[order]
        for j in range(longest):
            k = int(still[j])
            view = hs[:k]
            view ^= data[starts_sorted[:k] + j]
            view *= _FNV_PRIME
        h[order] = hs
    return fmix64(h)


def hash_strings(values: pa.Array | pa.ChunkedArray) -> U64:
    """Stable hash of each string (nulls hash as the empty string; callers mask them).

    Only the distinct values are hashed: the array is dictionary-encoded first,
    which Arrow does in one pass in C++.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if len(values) == 0:
        return np.zeros(0, dtype=np.uint64)
    encoded = pc.dictionary_encode(values)
    hashes = _fnv1a(encoded.dictionary)
    if len(hashes) == 0:  # every value is null
        return np.zeros(len(values), dtype=np.uint64)
    indices = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
    result: U64 = hashes[indices]
    return result
