"""Statistics of one column, built from whole Arrow arrays and mergeable.

The hot path, for numbers: Arrow hands over a zero-copy NumPy view, values are
cut into chunks of exactly ``CHUNK`` (so results do not depend on how the rows
were batched), and each chunk is copied once into a work buffer, summed,
centred (moments), sorted in place, and then read as sorted data by every
sketch: its first and last items are the extremes, it enters the KLL sketch as
one sorted level, and its run lengths give the distinct values with their
counts for the HyperLogLog (hashing only distinct values) and the frequent
values. Strings are counted per chunk with ``pyarrow.compute.value_counts``
(or ``np.bincount`` over dictionary indices), and only the distinct values of
a chunk reach the hash and the frequency summary.
"""

from __future__ import annotations

import base64
import copy
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from ._frequent import FrequentItems
from ._hll import HyperLogLog, hash_floats, hash_strings
from ._kll import KLL
from ._scratch import buffer

__all__ = ["CHUNK", "KINDS", "ColumnStatistics", "kind_of"]

CHUNK = 1 << 16  # values per chunk: big enough to amortise Python, small enough for L2
KINDS = ("numeric", "categorical", "boolean", "datetime", "other")
_SKETCHED = ("numeric", "datetime")
_INTEGER_TYPES = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
)
_SECONDS_PER = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def kind_of(type_: pa.DataType) -> str:
    """The statistics kind of an Arrow type (one of ``KINDS``)."""
    t = pa.types
    if t.is_dictionary(type_):
        return kind_of(type_.value_type)
    if t.is_boolean(type_):
        return "boolean"
    if t.is_integer(type_) or t.is_floating(type_) or t.is_decimal(type_):
        return "numeric"
    if t.is_timestamp(type_) or t.is_date(type_):
        return "datetime"
    if t.is_string(type_) or t.is_large_string(type_) or t.is_string_view(type_):
        return "categorical"
    return "other"


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


class _Chunker:
    """Cuts a stream of arrays (NumPy or Arrow) into pieces of exactly ``CHUNK`` values."""

    __slots__ = ("pending", "size")

    def __init__(self) -> None:
        self.pending: list[Any] = []
        self.size = 0

    def push(self, values: Any) -> Iterator[Any]:
        n, start = len(values), 0
        if self.size:
            need = CHUNK - self.size
            if n < need:
                self.pending.append(values)
                self.size += n
                return
            self.pending.append(values[:need])
            self.size, start = CHUNK, need
            yield self._take()
        while n - start >= CHUNK:
            yield values[start : start + CHUNK]
            start += CHUNK
        if start < n:
            self.pending, self.size = [values[start:]], n - start

    def drain(self) -> Any | None:
        return self._take() if self.size else None

    def _take(self) -> Any:
        parts, size = self.pending, self.size
        self.pending, self.size = [], 0
        if len(parts) == 1:
            return parts[0]
        if isinstance(parts[0], np.ndarray):
            out = buffer("chunk.concat", size, np.float64)
            np.concatenate(parts, out=out, casting="unsafe")
            return out
        if len({p.type for p in parts}) > 1:
            parts = [p.cast(pa.large_string()) for p in parts]
        return pa.concat_arrays(parts)


class ColumnStatistics:
    """Statistics of one column: counts, moments and mergeable sketches.

    Build them through :class:`~shipyard.validate.DatasetStatistics`; merge two
    with :meth:`merge`. What each kind gets:

    - ``numeric`` (integers, floats, decimals) and ``datetime`` (timestamps and
      dates, as epoch seconds): min, max, mean, std, quantiles and histograms
      (KLL), distinct (HyperLogLog) and frequent values.
    - ``categorical`` (strings): lexicographic min and max, distinct and
      frequent values.
    - ``boolean``: counts of true and false; mean is the fraction true.
    - ``other`` (binary, lists, structs ...): count and nulls only.

    NaN counts as a null in numeric columns, as pandas treats it. ``inf`` and
    ``-inf`` are values, but they are kept out of the moments and sketches
    (they would make mean, std and histograms meaningless) and counted in
    :attr:`infinite` instead. Standard deviations are population ones
    (``ddof=0``). Numbers are held as float64, so integers beyond 2**53 are
    rounded in min, max, quantiles and frequent values.

    Parameters
    ----------
    name
        Column name.
    type
        Arrow type of the column.
    """

    def __init__(self, name: str, type: pa.DataType) -> None:  # noqa: A002 - Arrow's word
        self.name = name
        self.arrow_type = str(type)
        self.kind = kind_of(type)
        self._count = 0
        self._nulls = 0
        self._infinite = 0
        self._init_state()

    def _init_state(self) -> None:
        kind = self.kind
        self._n, self._mean, self._m2 = 0, 0.0, 0.0
        self._kll = KLL() if kind in _SKETCHED else None
        self._hll = HyperLogLog() if kind in (*_SKETCHED, "categorical") else None
        self._top = FrequentItems() if kind in (*_SKETCHED, "categorical") else None
        self._smin: str | None = None
        self._smax: str | None = None
        self._true = 0
        self._false = 0
        self._chunks = _Chunker()

    # Public values ---------------------------------------------------------------

    @property
    def count(self) -> int:
        """Rows seen, nulls included."""
        return self._count

    @property
    def nulls(self) -> int:
        """Null values (and NaN in numeric columns)."""
        self._flush()
        return self._nulls

    @property
    def infinite(self) -> int:
        """``inf`` and ``-inf`` values of numeric columns (not in any other statistic)."""
        self._flush()
        return self._infinite

    @property
    def min(self) -> float | str | None:
        """Smallest value: a float for numeric and datetime (epoch seconds), a str for categorical."""
        self._flush()
        if self._kll is not None:
            return _finite_or_none(self._kll.min)
        return self._smin

    @property
    def max(self) -> float | str | None:
        """Largest value, as :attr:`min`."""
        self._flush()
        if self._kll is not None:
            return _finite_or_none(self._kll.max)
        return self._smax

    @property
    def mean(self) -> float | None:
        """Mean of numeric, datetime (seconds) and boolean (fraction true) columns."""
        self._flush()
        if self.kind == "boolean":
            valid = self._true + self._false
            return self._true / valid if valid else None
        if self.kind in _SKETCHED and self._n:
            return _finite_or_none(self._mean)
        return None

    @property
    def std(self) -> float | None:
        """Population standard deviation, for the kinds that have a :attr:`mean`."""
        self._flush()
        if self.kind == "boolean":
            p = self.mean
            return None if p is None else math.sqrt(p * (1.0 - p))
        if self.kind in _SKETCHED and self._n:
            return _finite_or_none(math.sqrt(max(self._m2, 0.0) / self._n))
        return None

    @property
    def distinct(self) -> float:
        """Distinct non-null values: exact while fewer than the frequency summary holds
        (1024), else a HyperLogLog estimate (standard error 0.81%); NaN for ``other``."""
        self._flush()
        if self.kind == "boolean":
            return float((self._true > 0) + (self._false > 0))
        if self._top is None or self._hll is None:
            return math.nan
        if self._top.offset == 0:
            return float(len(self._top.counts))
        return self._hll.estimate()

    @property
    def quantile_error(self) -> float:
        """Normalized rank error bound of :meth:`quantiles` (99% confidence); NaN without KLL.

        A returned quantile ``v`` for rank ``q`` has a true rank within ``q ± quantile_error``.
        """
        return self._kll.normalized_rank_error() if self._kll is not None else math.nan

    def _sketch(self, what: str) -> KLL:
        if self._kll is None:
            raise TypeError(
                f"column {self.name!r} is {self.kind} ({self.arrow_type}); {what} needs a"
                " numeric or datetime column (use top() for the others)"
            )
        self._flush()
        return self._kll

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """Values at the ranks ``qs`` (each in [0, 1]), from the KLL sketch.

        The quantile of rank ``q`` is the smallest value whose cumulative
        fraction is at least ``q`` (NumPy's ``inverted_cdf``); 0 and 1 give the
        exact min and max. NaN for every rank when the column has no values.

        Raises
        ------
        TypeError
            For columns that are not numeric or datetime.
        ValueError
            If a rank is outside [0, 1].
        """
        kll = self._sketch("quantiles()")
        ranks = np.asarray(qs, dtype=np.float64)
        if ranks.size and not (np.all(ranks >= 0.0) and np.all(ranks <= 1.0)):
            raise ValueError(f"quantiles() takes ranks in [0, 1]; got {list(qs)}")
        return [float(v) for v in kll.quantiles(ranks)]

    def cdf(self, values: Sequence[float]) -> list[float]:
        """Estimated fraction of non-null values ``<= x`` for each ``x`` (KLL).

        Raises
        ------
        TypeError
            For columns that are not numeric or datetime.
        """
        return [float(v) for v in self._sketch("cdf()").rank(values, inclusive=True)]

    def histogram(self, bins: int = 20) -> tuple[list[float], list[int]]:
        """Equal-width histogram between min and max, derived from the KLL sketch.

        Bins are ``[e_i, e_{i+1})``, the last one closed. Counts are estimates
        within the sketch's rank error; they sum to the number of values.
        A constant column gets edges ``value ± 0.5``, as ``np.histogram``.

        Returns
        -------
        tuple of list
            ``bins + 1`` edges and ``bins`` counts; both empty without values.

        Raises
        ------
        TypeError
            For columns that are not numeric or datetime (use :meth:`top`).
        """
        kll = self._sketch("histogram()")
        if bins < 1:
            raise ValueError(f"histogram() takes bins >= 1; got {bins}")
        if kll.n == 0:
            return [], []
        lo, hi = kll.min, kll.max
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        below = np.rint(kll.rank(edges, inclusive=False) * kll.n).astype(np.int64)
        below[0], below[-1] = 0, kll.n
        return edges.tolist(), np.diff(below).tolist()

    def top(self, k: int = 10) -> list[tuple[Any, int]]:
        """The ``k`` most frequent values with their counts, most frequent first.

        Counts are exact while the column has at most 1024 distinct values; past
        that they are lower bounds from a Misra–Gries summary (off by at most
        ``n / 1025`` for ``n`` values), and values rarer than that may be missing.
        Integer columns give ints, other numeric and datetime columns floats.
        """
        self._flush()
        if self.kind == "boolean":
            pairs = [(True, self._true), (False, self._false)]
            pairs = [p for p in pairs if p[1]]
            pairs.sort(key=lambda p: -p[1])
            return pairs[:k]
        if self._top is None:
            return []
        items = self._top.top(k)
        if self.arrow_type in _INTEGER_TYPES:
            return [(int(v), c) for v, c in items]
        return items

    # Ingest ------------------------------------------------------------------------

    def _update(self, array: pa.Array) -> None:
        """Add one Arrow array of this column."""
        n, nulls = len(array), array.null_count
        kind = kind_of(array.type)
        if nulls < n and kind != self.kind:
            if self.arrow_type != "null":
                raise ValueError(
                    f"column {self.name!r} was {self.arrow_type} ({self.kind}) in earlier batches"
                    f" and is {array.type} ({kind}) in this one; a column keeps its kind"
                )
            # Only nulls so far, under Arrow's null type: now the column has a real one.
            self.kind, self.arrow_type = kind, str(array.type)
            self._init_state()
        self.arrow_type = _unify_types(self.arrow_type, str(array.type), self.kind)
        self._count += n
        self._nulls += nulls
        if nulls == n:
            return
        if kind == "boolean":
            true = pc.sum(array).as_py() or 0
            self._true += true
            self._false += n - nulls - true
        elif kind in _SKETCHED:
            for chunk in self._chunks.push(_numbers(array)):
                self._add_numbers(chunk)
        elif kind == "categorical":
            if pa.types.is_dictionary(array.type):
                self._add_dictionary(array)
                return
            if pa.types.is_string_view(array.type):
                # Arrow has few kernels for views (not even filtering).
                array = array.cast(pa.large_string())
            if nulls:
                array = array.drop_null()
            for chunk in self._chunks.push(array):
                self._add_strings(chunk)

    def _flush(self) -> None:
        chunk = self._chunks.drain()
        if chunk is None:
            return
        if isinstance(chunk, np.ndarray):
            self._add_numbers(chunk)
        else:
            self._add_strings(chunk)

    def _add_numbers(self, chunk: npt.NDArray[Any]) -> None:
        assert self._kll is not None and self._hll is not None and self._top is not None
        n = chunk.size
        values = buffer("column.values", n, np.float64)
        np.copyto(values, chunk, casting="unsafe")
        # Sums of huge values may overflow; that is handled below, not worth a warning.
        with np.errstate(over="ignore"):
            total = float(np.add.reduce(values))
            if not math.isfinite(total):
                finite = np.isfinite(values)
                bad = n - int(np.count_nonzero(finite))
                if bad:
                    nan = int(np.count_nonzero(np.isnan(values)))
                    self._nulls += nan
                    self._infinite += bad - nan
                    values = values[finite]
                    n = values.size
                    if n == 0:
                        return
                    total = float(np.add.reduce(values))
            # A finite chunk whose sum overflows: the mean of scaled values cannot.
            mean = total / n if math.isfinite(total) else float(np.add.reduce(values / n))
            centred = buffer("column.centred", n, np.float64)
            np.subtract(values, mean, out=centred)
            # Not ``centred @ centred``: BLAS may wake its thread pool, whose spinning
            # costs more CPU than the whole chunk.
            np.square(centred, out=centred)
            self._add_moments(n, mean, float(np.add.reduce(centred)))

        values.sort()
        values += 0.0  # -0.0 becomes 0.0: one value for the hash and the run lengths
        self._kll.update_sorted(values)
        if n > 1:
            change = buffer("column.change", n - 1, np.bool_)
            np.not_equal(values[1:], values[:-1], out=change)
            runs = int(np.count_nonzero(change)) + 1
        else:
            runs = n
        if runs == n:
            # All distinct (the usual case for measurements): no run-length arrays.
            self._hll.add(hash_floats(values))
            self._top.update_distinct(values)
            return
        starts = np.empty(runs, dtype=np.int64)
        starts[0] = 0
        starts[1:] = np.flatnonzero(change) + 1
        keys = values[starts]
        self._hll.add(hash_floats(keys))
        self._top.update(keys, np.diff(starts, append=n))

    def _add_moments(self, n: int, mean: float, m2: float) -> None:
        # Chan et al.'s pairwise update: exact merging of counts, means and squared deviations.
        total = self._n + n
        delta = mean - self._mean
        self._mean += delta * n / total
        self._m2 += m2 + delta * delta * self._n * n / total
        self._n = total

    def _add_strings(self, chunk: pa.Array) -> None:
        counted = pc.value_counts(chunk)
        self._add_counted(counted.field("values"), counted.field("counts").to_numpy())

    def _add_dictionary(self, array: pa.DictionaryArray) -> None:
        indices = array.indices
        if indices.null_count:
            indices = indices.drop_null()
        dictionary = array.dictionary
        counts = np.bincount(indices.to_numpy(), minlength=len(dictionary))
        present = np.flatnonzero(counts)
        values = dictionary.take(pa.array(present))
        counts = counts[present]
        if values.null_count:
            # A null inside the dictionary is a null of the column.
            valid = values.is_valid().to_numpy(zero_copy_only=False)
            self._nulls += int(counts[~valid].sum())
            values, counts = values.filter(pa.array(valid)), counts[valid]
        if pa.types.is_string_view(values.type):
            values = values.cast(pa.large_string())
        self._add_counted(values, counts)

    def _add_counted(self, values: pa.Array, counts: npt.NDArray[np.int64]) -> None:
        assert self._hll is not None and self._top is not None
        if len(values) == 0:
            return
        extremes = pc.min_max(values)
        lo, hi = extremes["min"].as_py(), extremes["max"].as_py()
        if self._smin is None or lo < self._smin:
            self._smin = lo
        if self._smax is None or hi > self._smax:
            self._smax = hi
        self._hll.add(hash_strings(values))
        self._top.update(values, counts.astype(np.int64, copy=False))

    # Merge and serialization -----------------------------------------------------

    def merge(self, other: ColumnStatistics) -> ColumnStatistics:
        """Add ``other``'s statistics (same column from another shard) to these; return self.

        Counts, moments, extremes and boolean counts merge exactly; quantiles,
        distinct counts and frequent values merge their sketches. ``other`` is
        left unchanged.

        Raises
        ------
        ValueError
            If the two columns are of different kinds (a column of Arrow's
            ``null`` type, all nulls, merges with any kind).
        """
        problem = self.merge_conflict(other)
        if problem:
            raise ValueError(problem)
        self._flush()
        other._flush()
        if other.kind != self.kind:
            if other.arrow_type == "null":
                self._count += other._count
                self._nulls += other._nulls
                return self
            count, nulls = self._count, self._nulls
            self.__dict__.update(other.copy().__dict__)
            self._count += count
            self._nulls += nulls
            return self
        self.arrow_type = _unify_types(self.arrow_type, other.arrow_type, self.kind)
        self._count += other._count
        self._nulls += other._nulls
        self._infinite += other._infinite
        if other._n:
            self._add_moments(other._n, other._mean, other._m2)
        if self._kll is not None and other._kll is not None:
            self._kll.merge(other._kll)
        if self._hll is not None and other._hll is not None:
            self._hll.merge(other._hll)
        if self._top is not None and other._top is not None:
            self._top.merge(other._top)
        if other._smin is not None and (self._smin is None or other._smin < self._smin):
            self._smin = other._smin
        if other._smax is not None and (self._smax is None or other._smax > self._smax):
            self._smax = other._smax
        self._true += other._true
        self._false += other._false
        return self

    def merge_conflict(self, other: ColumnStatistics) -> str | None:
        """Why :meth:`merge` would refuse ``other``, or ``None`` if it would not."""
        if other.kind == self.kind or "null" in (self.arrow_type, other.arrow_type):
            return None
        return (
            f"cannot merge column {self.name!r}: it is {self.arrow_type} ({self.kind})"
            f" here and {other.arrow_type} ({other.kind}) in the other statistics"
        )

    def copy(self) -> ColumnStatistics:
        """An independent copy."""
        self._flush()
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state; the KLL sketch is DataSketches' ``kll_sketch<double>`` bytes in base64."""
        self._flush()
        d: dict[str, Any] = {
            "name": self.name,
            "arrow_type": self.arrow_type,
            "kind": self.kind,
            "count": self._count,
            "nulls": self._nulls,
        }
        if self.kind in _SKETCHED:
            assert self._kll is not None and self._hll is not None and self._top is not None
            d["infinite"] = self._infinite
            d["moments"] = {
                "n": self._n,
                "mean": _finite_or_none(self._mean),
                "m2": _finite_or_none(self._m2),
            }
            d["kll"] = base64.b64encode(self._kll.serialize()).decode()
        if self.kind == "categorical":
            d["min"], d["max"] = self._smin, self._smax
        if self._hll is not None and self._top is not None:
            d["hll"] = self._hll.to_dict()
            d["top"] = self._top.to_dict()
        if self.kind == "boolean":
            d["true"], d["false"] = self._true, self._false
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnStatistics:
        """The inverse of :meth:`to_dict`; the result can be updated and merged further."""
        col = cls.__new__(cls)
        col.name, col.arrow_type, col.kind = d["name"], d["arrow_type"], d["kind"]
        if col.kind not in KINDS:
            raise ValueError(f"column {col.name!r} has kind {col.kind!r}; expected one of {KINDS}")
        col._count, col._nulls, col._infinite = int(d["count"]), int(d["nulls"]), 0
        col._init_state()
        if col.kind in _SKETCHED:
            col._infinite = int(d.get("infinite", 0))
            m = d["moments"]
            col._n = int(m["n"])
            col._mean = math.nan if m["mean"] is None else float(m["mean"])
            col._m2 = math.nan if m["m2"] is None else float(m["m2"])
            col._kll = KLL.deserialize(base64.b64decode(d["kll"]))
        if "hll" in d:
            col._hll = HyperLogLog.from_dict(d["hll"])
            col._top = FrequentItems.from_dict(d["top"])
        if col.kind == "categorical":
            col._smin, col._smax = d.get("min"), d.get("max")
        if col.kind == "boolean":
            col._true, col._false = int(d["true"]), int(d["false"])
        return col

    def __repr__(self) -> str:
        return (
            f"ColumnStatistics(name={self.name!r}, kind={self.kind!r}, type={self.arrow_type!r},"
            f" count={self.count}, nulls={self.nulls})"
        )


def _unify_types(a: str, b: str, kind: str) -> str:
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    # Statistics hold numbers as float64, so int and float shards meet there.
    return "double" if kind == "numeric" else a


def _numbers(array: pa.Array) -> npt.NDArray[Any]:
    """Non-null values of a numeric or datetime array as NumPy (epoch seconds for datetimes)."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if array.null_count:
        array = array.drop_null()
    type_ = array.type
    values: npt.NDArray[Any]
    if pa.types.is_timestamp(type_):
        values = array.view(pa.int64()).to_numpy() / _SECONDS_PER[type_.unit]
    elif pa.types.is_date32(type_):
        values = array.view(pa.int32()).to_numpy() * 86400.0
    elif pa.types.is_date64(type_):
        values = array.view(pa.int64()).to_numpy() / 1e3
    elif pa.types.is_decimal(type_):
        values = array.cast(pa.float64()).to_numpy()
    else:
        values = array.to_numpy(zero_copy_only=False)
    return values
