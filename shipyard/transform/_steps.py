"""The runtime of fitted ops: each op of a fitted feature compiled to a vectorised kernel.

A feature's value goes through *forward* kernels (impute, clip, vocabulary ...)
and ends in *emitters* that write its outputs (a number, one-hot columns,
datetime parts ...) as rows of a features x rows array: contiguous writes,
where columns of a rows x features array would be strided ones (five times
slower on a million rows). Kernels work on whole arrays (NumPy, pyarrow.compute);
nothing loops over rows in Python. Codes are int64 with -1 for a missing value.

Fitting runs the same kernels on the prefix of a chain that is already fitted,
so the values an op is fitted on are exactly the values it is applied to.
NumPy and pyarrow only: the server imports this.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from ._hash import hash_rows, hash_strings
from ._inputs import Column, to_datetimes, to_floats, to_strings

__all__ = [
    "CROSS_SEPARATOR",
    "CYCLES",
    "PARTS",
    "Context",
    "FeatureRuntime",
    "Lookup",
    "cyclical_tables",
    "folds_of",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
Forward = Callable[[Any], Any]
Emitter = Callable[[Any, F32, int, "Context"], None]

CROSS_SEPARATOR = "\x1f"  # ASCII unit separator: joins crossed values, rare in real data
_BIG_VOCABULARY = 4096

# Arrow's functions for datetime parts; day_of_week counts from Monday = 0.
_PARTS: dict[str, Callable[[pa.Array], pa.Array]] = {
    "hour": pc.hour,
    "minute": pc.minute,
    "weekday": pc.day_of_week,
    "day": pc.day,
    "dayofyear": pc.day_of_year,
    "month": pc.month,
    "year": pc.year,
}
CYCLES: dict[str, tuple[int, int]] = {
    # part -> (first value, period): value v is at angle 2π(v - first) / period
    "hour": (0, 24),
    "minute": (0, 60),
    "weekday": (0, 7),
    "day": (1, 31),
    "dayofyear": (1, 366),
    "month": (1, 12),
}
PARTS = tuple(_PARTS)
"""Datetime parts by name; ``CYCLES`` has those with a cycle."""


@dataclass
class Context:
    """What one call of apply knows beyond the values: the training row numbers, if any."""

    rows: npt.NDArray[np.int64] | None = None
    _folds: dict[tuple[int, int], I64] = field(default_factory=dict)

    def folds(self, seed: int, k: int) -> I64:
        key = (seed, k)
        if key not in self._folds:
            assert self.rows is not None
            self._folds[key] = folds_of(self.rows, seed, k)
        return self._folds[key]


def folds_of(rows: npt.ArrayLike, seed: int, k: int) -> I64:
    """The fold (0 .. k-1) of each training row number: a hash of the number and the seed."""
    folds: I64 = (hash_rows(np.asarray(rows), seed) % np.uint64(k)).astype(np.int64)
    return folds


def cyclical_tables(parts: Sequence[str]) -> dict[str, dict[str, list[float]]]:
    """Sine and cosine of each value of each part, computed once at fit and saved as data.

    Saved rather than recomputed where the transform is applied, so that every
    machine reads the same numbers whatever its libm.
    """
    tables = {}
    for part in parts:
        first, period = CYCLES[part]
        angles = [2.0 * math.pi * i / period for i in range(period)]
        tables[part] = {"sin": [math.sin(a) for a in angles], "cos": [math.cos(a) for a in angles]}
    return tables


class Lookup:
    """Position of each string in a fixed list of values; -1 for others and NULL."""

    def __init__(self, values: Sequence[str]) -> None:
        self.values = pa.array(list(values), type=pa.string())
        self._options = pc.SetLookupOptions(value_set=self.values)
        self._dict: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.values)

    def index(self, strings: pa.Array) -> I64:
        n, size = len(strings), len(self.values)
        if size == 0:
            return np.full(n, -1, dtype=np.int64)
        if size > _BIG_VOCABULARY and n * 16 < size:
            # Arrow builds a hash table of the whole list on every call (about 2.5 ms per
            # 100 000 values): for a few rows, a dict kept between calls is far cheaper.
            # The Python work is per distinct value of the batch, never per row.
            if self._dict is None:
                self._dict = {v: i for i, v in enumerate(self.values.to_pylist())}
            encoded = pc.dictionary_encode(strings)
            distinct = encoded.dictionary.to_pylist()
            codes = np.fromiter(
                (self._dict.get(v, -1) for v in distinct), dtype=np.int64, count=len(distinct)
            )
            codes = np.append(codes, -1)
            ind = pc.fill_null(encoded.indices, len(distinct)).to_numpy(zero_copy_only=False)
            result: I64 = codes[ind]
            return result
        found = pc.index_in(strings, options=self._options)
        # astype copies: callers write into the codes, and Arrow's buffers are read-only.
        codes_: I64 = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        return codes_


class _Datetimes:
    """A timestamp array and its parts, each computed once per call."""

    def __init__(self, ts: pa.Array) -> None:
        self.ts = ts
        self.null = np.asarray(ts.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        self._parts: dict[str, pa.Array] = {}

    def part(self, name: str) -> pa.Array:
        if name not in self._parts:
            self._parts[name] = _PARTS[name](self.ts)
        return self._parts[name]


# -- forward kernels: value -> value -------------------------------------------------------


def _impute(params: Mapping[str, Any], fitted: Mapping[str, Any], stage: str) -> Forward:
    value = fitted["value"]
    if stage == "numeric":

        def impute_numbers(v: F64) -> F64:
            np.copyto(v, value, where=np.isnan(v))
            return v

        return impute_numbers

    def impute_strings(v: pa.Array) -> pa.Array:
        return pc.fill_null(v, value) if v.null_count else v

    return impute_strings


def _clip(params: Mapping[str, Any], fitted: Mapping[str, Any], stage: str) -> Forward:
    lower, upper = params.get("lower"), params.get("upper")

    def clip(v: F64) -> F64:
        # NaN stays NaN: np.maximum/np.minimum propagate it.
        if lower is not None:
            np.maximum(v, lower, out=v)
        if upper is not None:
            np.minimum(v, upper, out=v)
        return v

    return clip


def _log1p(params: Mapping[str, Any], fitted: Mapping[str, Any], stage: str) -> Forward:
    def log1p(v: F64) -> F64:
        with np.errstate(invalid="ignore", divide="ignore"):
            np.log1p(v, out=v)
        return v

    return log1p


def _affine(shift: float, scale: float) -> Forward:
    def affine(v: F64) -> F64:
        v -= shift
        v /= scale
        return v

    return affine


def _standardize(params: Mapping[str, Any], fitted: Mapping[str, Any], stage: str) -> Forward:
    return _affine(float(fitted["mean"]), float(fitted["scale"]))


def _minmax(params: Mapping[str, Any], fitted: Mapping[str, Any], stage: str) -> Forward:
    return _affine(float(fitted["min"]), float(fitted["range"]))


def _quantile_buckets(params: Mapping[str, Any], fitted: Mapping[str, Any], stage: str) -> Forward:
    edges = np.asarray(fitted["edges"], dtype=np.float64)

    def buckets(v: F64) -> I64:
        codes = np.searchsorted(edges, v, side="right").astype(np.int64)
        codes[np.isnan(v)] = -1
        return codes

    return buckets


def _vocabulary(params: Mapping[str, Any], fitted: Mapping[str, Any], stage: str) -> Forward:
    lookup = Lookup(fitted["values"])
    size, oov = len(lookup), int(params["oov_buckets"])

    def vocabulary(v: pa.Array) -> I64:
        codes = lookup.index(v)
        unknown = codes < 0
        if v.null_count:
            unknown &= ~np.asarray(v.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if oov == 1:
            codes[unknown] = size
        elif unknown.any():
            hashes = hash_strings(v.filter(pa.array(unknown)))
            codes[unknown] = size + (hashes % np.uint64(oov)).astype(np.int64)
        return codes

    return vocabulary


def _hashing(params: Mapping[str, Any], fitted: Mapping[str, Any], stage: str) -> Forward:
    buckets = np.uint64(int(params["buckets"]))

    def hashing(v: pa.Array) -> I64:
        codes = (hash_strings(v) % buckets).astype(np.int64)
        if v.null_count:
            codes[np.asarray(v.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = -1
        return codes

    return hashing


_FORWARDS: dict[
    str, tuple[Callable[[Mapping[str, Any], Mapping[str, Any], str], Forward], str | None]
] = {
    # op -> (kernel factory, stage it gives; None: the same)
    "impute": (_impute, None),
    "clip": (_clip, None),
    "log1p": (_log1p, None),
    "standardize": (_standardize, None),
    "minmax": (_minmax, None),
    "quantile_buckets": (_quantile_buckets, "codes"),
    "vocabulary": (_vocabulary, "codes"),
    "top_k": (_vocabulary, "codes"),
    "hashing": (_hashing, "codes"),
}


# -- emitters: value -> output columns ---------------------------------------------------


def _number_out(v: F64, out: F32, start: int, ctx: Context) -> None:
    out[start] = v


def _ordinal_out(codes: I64, out: F32, start: int, ctx: Context) -> None:
    column = codes.astype(np.float64)
    column[codes < 0] = np.nan
    out[start] = column


def _onehot_out(codes: I64, out: F32, start: int, ctx: Context) -> None:
    # ``out`` starts as zeros; a missing value (-1) stays all zeros.
    rows = np.flatnonzero(codes >= 0)
    out[start + codes[rows], rows] = 1.0


def _parts_out(parts: Sequence[str]) -> Emitter:
    def parts_out(v: _Datetimes, out: F32, start: int, ctx: Context) -> None:
        for i, name in enumerate(parts):
            out[start + i] = v.part(name).to_numpy(zero_copy_only=False)

    return parts_out


def _cyclical_out(
    parts: Sequence[str], tables: Mapping[str, Mapping[str, Sequence[float]]]
) -> Emitter:
    luts = {
        p: (
            np.append(np.asarray(tables[p]["sin"], dtype=np.float64), np.nan),
            np.append(np.asarray(tables[p]["cos"], dtype=np.float64), np.nan),
        )
        for p in parts
    }

    def cyclical_out(v: _Datetimes, out: F32, start: int, ctx: Context) -> None:
        for i, name in enumerate(parts):
            first, period = CYCLES[name]
            sin, cos = luts[name]
            filled = pc.fill_null(v.part(name), first).to_numpy(zero_copy_only=False)
            index = filled.astype(np.int64)  # a copy: Arrow's buffer is read-only
            index -= first
            np.remainder(index, period, out=index)  # a guard only: parts stay within a period
            index[v.null] = period  # the NaN entry
            out[start + 2 * i] = sin[index]
            out[start + 2 * i + 1] = cos[index]

    return cyclical_out


class _TargetEncoding:
    """Smoothed target means per value: over all training rows, or out of fold per row."""

    def __init__(self, params: Mapping[str, Any], fitted: Mapping[str, Any]) -> None:
        self.lookup = Lookup(fitted["values"])
        self.k, self.m = int(params["folds"]), float(params["smoothing"])
        self.seed = int(fitted["seed"])
        self.fold_sums = np.asarray(fitted["fold_sums"], dtype=np.float64).reshape(self.k, -1)
        self.fold_counts = np.asarray(fitted["fold_counts"], dtype=np.float64).reshape(self.k, -1)
        self.total_sums = np.asarray(fitted["total_sums"], dtype=np.float64)
        self.total_counts = np.asarray(fitted["total_counts"], dtype=np.float64)
        self.full, self.prior = self._encode(range(self.k))
        self._oof: tuple[F64, F64] | None = None

    def _encode(self, folds: Sequence[int] | range) -> tuple[F64, float]:
        """The encoding from the rows of ``folds`` only, summed in fold order."""
        size = self.fold_sums.shape[1]
        sums, counts = np.zeros(size), np.zeros(size)
        total_sum = total_count = 0.0
        for f in folds:
            sums += self.fold_sums[f]
            counts += self.fold_counts[f]
            total_sum += float(self.total_sums[f])
            total_count += float(self.total_counts[f])
        prior = total_sum / total_count if total_count else 0.0
        denominator = counts + self.m
        with np.errstate(invalid="ignore", divide="ignore"):
            table = (sums + self.m * prior) / denominator
        table[denominator == 0] = prior
        return table, prior

    def out_of_fold(self) -> tuple[F64, F64]:
        """Tables (k, values) and priors (k,) of the encoding without each fold's own rows."""
        if self._oof is None:
            tables, priors = [], []
            for f in range(self.k):
                # Sums over the other folds only, never "all minus own": a subtraction would
                # leave rounding that depends on the row's own target.
                table, prior = self._encode([g for g in range(self.k) if g != f])
                tables.append(table)
                priors.append(prior)
            self._oof = np.stack(tables), np.asarray(priors, dtype=np.float64)
        return self._oof

    def __call__(self, v: pa.Array, out: F32, start: int, ctx: Context) -> None:
        index = self.lookup.index(v)
        unseen = index < 0
        if ctx.rows is None:
            column = self.full[np.maximum(index, 0)] if len(self.lookup) else np.zeros(len(v))
            column[unseen] = self.prior
        else:
            tables, priors = self.out_of_fold()
            folds = ctx.folds(self.seed, self.k)
            column = tables[folds, np.maximum(index, 0)] if len(self.lookup) else np.zeros(len(v))
            column[unseen] = priors[folds[unseen]]
        if v.null_count:
            column[np.asarray(v.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = np.nan
        out[start] = column


def _emitter(op: str, params: Mapping[str, Any], fitted: Mapping[str, Any]) -> tuple[Emitter, int]:
    if op in ("onehot", "ordinal", "encode"):
        how = fitted.get("as", op)
        if how == "onehot":
            return _onehot_out, int(fitted["size"])
        return _ordinal_out, 1
    if op == "parts":
        return _parts_out(params["parts"]), len(params["parts"])
    if op == "cyclical":
        return _cyclical_out(params["parts"], fitted["tables"]), 2 * len(params["parts"])
    if op == "target_encode":
        return _TargetEncoding(params, fitted), 1
    raise ValueError(f"unknown op {op!r} in a fitted transform; it may come from a newer Shipyard")


class FeatureRuntime:
    """One fitted feature compiled: reads its input columns, writes its output columns.

    Parameters
    ----------
    feature
        The feature as saved: ``name``, ``kind``, ``columns``, ``steps`` (each
        ``op``, ``params``, ``fitted``). For fitting, a prefix of the steps.
    """

    def __init__(self, feature: Mapping[str, Any]) -> None:
        self.name: str = feature["name"]
        self.kind: str = feature["kind"]
        self.columns: list[str] = list(feature["columns"])
        self.forwards: list[Forward] = []
        self.emitters: list[tuple[Emitter, int]] = []
        stage = "categorical" if self.kind == "cross" else self.kind
        for step in feature["steps"]:
            op, params, fitted = step["op"], step.get("params", {}), step.get("fitted", {})
            if op in _FORWARDS and not self.emitters:
                factory, gives = _FORWARDS[op]
                self.forwards.append(factory(params, fitted, stage))
                stage = gives or stage
            else:
                self.emitters.append(_emitter(op, params, fitted))
        self.stage = stage
        if not self.emitters and stage == "numeric":
            self.emitters.append((_number_out, 1))
        self.width = sum(width for _, width in self.emitters)
        # A number written as it comes: a float64 NumPy column goes straight to the output.
        self.passthrough = (
            self.kind == "numeric" and not self.forwards and self.emitters == [(_number_out, 1)]
        )

    def start(self, columns: Mapping[str, Column]) -> Any:
        """The feature's values before any op."""
        if self.kind == "numeric":
            return to_floats(columns[self.name])
        if self.kind == "categorical":
            return to_strings(columns[self.name])
        if self.kind == "datetime":
            return _Datetimes(to_datetimes(columns[self.name], self.name))
        parts = [to_strings(columns[c]) for c in self.columns]
        return pc.binary_join_element_wise(*parts, CROSS_SEPARATOR)

    def value(self, columns: Mapping[str, Column]) -> Any:
        """The values after every forward op (for fitting the next op)."""
        v = self.start(columns)
        for forward in self.forwards:
            v = forward(v)
        return v

    def write(self, columns: Mapping[str, Column], out: F32, start: int, ctx: Context) -> None:
        """Write this feature's ``width`` rows of ``out`` (features x rows) from ``start``."""
        if self.passthrough:
            column = columns[self.name]
            if type(column) is np.ndarray and column.dtype == np.float64:
                out[start] = column  # what to_floats and _number_out do, without the copy
                return
        v = self.value(columns)
        for emit, width in self.emitters:
            emit(v, out, start, ctx)
            start += width
