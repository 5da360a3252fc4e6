"""``fit_transform``: fit a :class:`FeaturePlan` on the train split of a Dataset.

Each op is fitted on the values it will be applied to: the output of the ops
before it in its feature, computed by the same kernels that apply them. What
an op needs comes from one of three places:

- nothing (``clip``, ``log1p``, ``hashing``, encodings, datetime parts);
- the ingest :class:`~shipyard.validate.Statistics`, for the first op of a
  feature, where they are exact enough: mean, std, min and max exactly,
  medians and quantile edges from the KLL sketch, and vocabularies of string
  columns with at most 512 distinct values (whose counts the statistics keep
  exactly);
- a streaming pass over the split for everything else: exact value counts
  (vocabularies with ``min_frequency``, ``most_frequent``), target sums per
  value and fold (``target_encode``), and statistics of transformed values
  (``standardize`` after ``log1p``).

One pass fits every feature's next op that needs data, so a plan takes as
many passes as its longest run of data-fitted ops in one feature: usually one
(vocabularies, target encodings), none when the statistics cover the rest.

Target encoding, out of fold: each training row's fold is a hash of its row
number in the split and the seed; the fitted transform keeps per-value sums
and counts per fold, so that serving uses every training row and training
(``FittedTransform.iter_features`` or ``apply(..., training_rows=...)``) uses
for each row only the folds other than its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from ..validate.stats import ColumnStatistics, DatasetStatistics, Statistics
from ._inputs import coerce, to_floats
from ._plan import FeaturePlan, PlannedFeature, PlannedOp
from ._steps import CROSS_SEPARATOR, FeatureRuntime, cyclical_tables, folds_of
from .apply import FORMAT, FittedTransform, schema_to_text

if TYPE_CHECKING:
    from ..data.dataset import Dataset

__all__ = ["fit_transform"]

_EXACT_DISTINCT = 512  # statistics count values exactly up to 1024; stay far from the edge
_COMPACT_ROWS = 1 << 20
_SUMMARY, _COUNTS, _TARGET = "summary", "counts", "target"


# -- accumulators of one pass ------------------------------------------------------------


class _Counts:
    """Exact counts of the (non-null) values of a string column, kept in Arrow."""

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []
        self._rows = 0

    def add(self, values: pa.Array) -> None:
        counted = pc.value_counts(values.drop_null() if values.null_count else values)
        part = pa.table({"v": counted.field("values"), "n": counted.field("counts")})
        self._parts.append(part)
        self._rows += part.num_rows
        if self._rows > _COMPACT_ROWS and len(self._parts) > 1:
            self._compact()

    def _compact(self) -> None:
        table = pa.concat_tables(self._parts)
        summed = table.group_by("v", use_threads=False).aggregate([("n", "sum")])
        self._parts = [summed.rename_columns(["v", "n"])]
        self._rows = self._parts[0].num_rows

    def table(self) -> pa.Table:
        if not self._parts:
            return pa.table({"v": pa.array([], pa.string()), "n": pa.array([], pa.int64())})
        self._compact()
        return self._parts[0]


def _ranked(table: pa.Table) -> tuple[list[str], list[int]]:
    """Values by count, most frequent first; ties by value (byte order), so the order is fixed."""
    order = pc.sort_indices(table, sort_keys=[("n", "descending"), ("v", "ascending")])
    table = table.take(order)
    return table.column("v").to_pylist(), [int(n) for n in table.column("n").to_pylist()]


class _TargetSums:
    """Sums and counts of the target per (value, fold), and per fold over all rows."""

    def __init__(self, folds: int, seed: int) -> None:
        self.k, self.seed = folds, seed
        self.total_sums = np.zeros(folds)
        self.total_counts = np.zeros(folds, dtype=np.int64)
        self._parts: list[pa.Table] = []
        self._rows = 0

    def add(self, values: pa.Array, y: np.ndarray[Any, Any], first_row: int) -> None:
        folds = folds_of(np.arange(first_row, first_row + len(y)), self.seed, self.k)
        labelled = np.isfinite(y)  # NULL (NaN) and infinite targets teach nothing
        self.total_sums += np.bincount(folds[labelled], weights=y[labelled], minlength=self.k)
        self.total_counts += np.bincount(folds[labelled], minlength=self.k)
        keep = labelled
        if values.null_count:
            keep = keep & ~np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        part = pa.table({"v": values.filter(pa.array(keep)), "f": folds[keep], "y": y[keep]})
        grouped = part.group_by(["v", "f"], use_threads=False).aggregate(
            [("y", "sum"), ("y", "count")]
        )
        self._parts.append(grouped.select(["v", "f", "y_sum", "y_count"]))
        self._rows += grouped.num_rows
        if self._rows > _COMPACT_ROWS and len(self._parts) > 1:
            self._compact()

    def _compact(self) -> None:
        table = pa.concat_tables(self._parts)
        summed = table.group_by(["v", "f"], use_threads=False).aggregate(
            [("y_sum", "sum"), ("y_count", "sum")]
        )
        self._parts = [
            summed.select(["v", "f", "y_sum_sum", "y_count_sum"]).rename_columns(
                ["v", "f", "y_sum", "y_count"]
            )
        ]
        self._rows = self._parts[0].num_rows

    def fitted(self) -> dict[str, Any]:
        if self._parts:
            self._compact()
            table = self._parts[0]
        else:
            table = pa.table(
                {"v": pa.array([], pa.string()), "f": pa.array([], pa.int64()),
                 "y_sum": pa.array([], pa.float64()), "y_count": pa.array([], pa.int64())}
            )  # fmt: skip
        values = pc.unique(table.column("v"))  # an Array, also from a ChunkedArray
        values = values.take(pc.sort_indices(values))
        index = pc.index_in(table.column("v"), value_set=values).to_numpy()
        fold = table.column("f").to_numpy()
        sums = np.zeros((self.k, len(values)))
        counts = np.zeros((self.k, len(values)), dtype=np.int64)
        sums[fold, index] = table.column("y_sum").to_numpy()
        counts[fold, index] = table.column("y_count").to_numpy()
        return {
            "values": values.to_pylist(),
            "fold_sums": sums.tolist(),
            "fold_counts": counts.tolist(),
            "total_sums": self.total_sums.tolist(),
            "total_counts": self.total_counts.tolist(),
            "seed": self.seed,
        }


# -- fitting each op ------------------------------------------------------------------------


def _number(x: float | str | None, default: float) -> float:
    if isinstance(x, int | float) and np.isfinite(x):
        return float(x)
    return default


def _from_summary(op: PlannedOp, col: ColumnStatistics) -> dict[str, Any]:
    """Fitted values of a numeric op from the statistics of its input values."""
    if op.op == "impute":
        if op.params["strategy"] == "mean":
            return {"value": _number(col.mean, 0.0)}
        return {"value": _number(col.quantiles([0.5])[0] if col.count else None, 0.0)}
    if op.op == "standardize":
        std = _number(col.std, 0.0)
        return {"mean": _number(col.mean, 0.0), "scale": std if std > 0 else 1.0}
    if op.op == "minmax":
        lo = _number(col.min, 0.0)
        span = _number(col.max, lo) - lo
        return {"min": lo, "range": span if span > 0 else 1.0}
    # quantile_buckets
    buckets = int(op.params["buckets"])
    qs = [i / buckets for i in range(1, buckets)]
    edges = np.asarray(col.quantiles(qs) if col.count else [], dtype=np.float64)
    edges = np.unique(edges[np.isfinite(edges)])
    return {"edges": [float(e) for e in edges]}


def _from_counts(op: PlannedOp, values: list[str], counts: list[int]) -> dict[str, Any]:
    if op.op == "impute":  # most_frequent
        return {"value": values[0] if values else "<missing>"}
    limit = op.params.get("k") if op.op == "top_k" else op.params.get("max_size")
    keep = [i for i, n in enumerate(counts) if n >= op.params["min_frequency"]]
    if limit is not None:
        keep = keep[: int(limit)]
    return {"values": [values[i] for i in keep], "counts": [counts[i] for i in keep]}


def _need(op: PlannedOp) -> str | None:
    """What fitting ``op`` needs from the data; None: nothing."""
    if op.op == "impute":
        strategy = op.params["strategy"]
        return (
            _SUMMARY
            if strategy in ("mean", "median")
            else (_COUNTS if strategy == "most_frequent" else None)
        )
    if op.op in ("standardize", "minmax", "quantile_buckets"):
        return _SUMMARY
    if op.op in ("vocabulary", "top_k"):
        return _COUNTS
    if op.op == "target_encode":
        return _TARGET
    return None


def _is_string(type_: pa.DataType) -> bool:
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return bool(pa.types.is_string(type_) or pa.types.is_large_string(type_))


class _Fitting:
    """One feature being fitted: its fitted steps so far and its output names."""

    def __init__(self, feature: PlannedFeature, key: str, seed: int) -> None:
        self.feature, self.key, self.seed = feature, key, seed
        self.steps: list[dict[str, Any]] = []
        self.stage = "categorical" if feature.kind == "cross" else feature.kind
        self.code_names: list[str] = []
        self.known = 0  # codes that stand for a known value (one-hot is chosen on these)
        self.outputs: list[str] = []
        self.accumulator: Any = None

    @property
    def done(self) -> bool:
        return len(self.steps) == len(self.feature.ops)

    @property
    def op(self) -> PlannedOp:
        return self.feature.ops[len(self.steps)]

    def runtime(self) -> FeatureRuntime:
        f = self.feature
        return FeatureRuntime(
            {"name": f.name, "kind": f.kind, "columns": f.columns, "steps": self.steps}
        )

    def without_data(
        self, stats: DatasetStatistics | None, input_type: pa.DataType
    ) -> dict[str, Any] | None:
        """The next op's fitted values if no pass is needed; None if it needs one."""
        op, need = self.op, _need(self.op)
        if need is None:
            return self._static(op)
        col = stats.columns.get(self.feature.name) if stats is not None and not self.steps else None
        if col is None or self.feature.kind == "cross":
            return None
        if need == _SUMMARY and col.kind == "numeric" and self.feature.kind == "numeric":
            return _from_summary(op, col)
        if (
            need == _COUNTS
            and self.feature.kind == "categorical"
            and col.kind == "categorical"
            and _is_string(input_type)
            and col.distinct <= _EXACT_DISTINCT
        ):
            top = col.top(2 * _EXACT_DISTINCT)
            if sum(n for _, n in top) == col.count - col.nulls:  # every value counted exactly
                table = pa.table(
                    {"v": pa.array([str(v) for v, _ in top], pa.string()),
                     "n": pa.array([n for _, n in top], pa.int64())}
                )  # fmt: skip
                return _from_counts(op, *_ranked(table))
        return None

    def _static(self, op: PlannedOp) -> dict[str, Any]:
        if op.op == "impute":
            return {"value": op.params["value"]}
        if op.op in ("onehot", "ordinal", "encode"):
            size = len(self.code_names)
            fitted: dict[str, Any] = {"size": size}
            if op.op == "encode":
                fitted["as"] = "onehot" if self.known <= op.params["max_onehot"] else "ordinal"
            return fitted
        if op.op == "cyclical":
            return {"tables": cyclical_tables(op.params["parts"])}
        return {}

    def start_pass(self) -> None:
        need = _need(self.op)
        if need == _COUNTS:
            self.accumulator = _Counts()
        elif need == _TARGET:
            self.accumulator = _TargetSums(int(self.op.params["folds"]), self.seed)
        else:
            self.accumulator = None

    def end_pass(self, stats: DatasetStatistics) -> dict[str, Any]:
        op, need = self.op, _need(self.op)
        if need == _SUMMARY:
            return _from_summary(op, stats.columns[self.key])
        if need == _COUNTS:
            return _from_counts(op, *_ranked(self.accumulator.table()))
        fitted: dict[str, Any] = self.accumulator.fitted()
        return fitted

    def add(self, fitted: dict[str, Any]) -> None:
        op, name = self.op, self.feature.name
        self.steps.append({"op": op.op, "params": dict(op.params), "fitted": fitted})
        if op.op in ("vocabulary", "top_k"):
            labels = [v.replace(CROSS_SEPARATOR, "&") for v in fitted["values"]]
            oov = int(op.params["oov_buckets"])
            oov_labels = ["<oov>"] if oov == 1 else [f"<oov{i}>" for i in range(oov)]
            self.code_names = [f"{name}={v}" for v in labels + oov_labels]
            self.known = len(labels)
            self.stage = "codes"
        elif op.op == "hashing":
            self.code_names = [f"{name}#{i}" for i in range(int(op.params["buckets"]))]
            self.known = len(self.code_names)
            self.stage = "codes"
        elif op.op == "quantile_buckets":
            self.code_names = [f"{name}#{i}" for i in range(len(fitted["edges"]) + 1)]
            self.known = len(self.code_names)
            self.stage = "codes"
        elif op.op in ("onehot", "ordinal", "encode"):
            onehot = fitted.get("as", op.op) == "onehot"
            self.outputs += self.code_names if onehot else [name]
            self.stage = "done"
        elif op.op == "target_encode":
            self.outputs.append(name)
            self.stage = "done"
        elif op.op == "parts":
            self.outputs += [f"{name}.{p}" for p in op.params["parts"]]
        elif op.op == "cyclical":
            self.outputs += [f"{name}.{p}_{f}" for p in op.params["parts"] for f in ("sin", "cos")]
        if self.done and self.stage == "numeric":
            self.outputs.append(name)

    def to_dict(self) -> dict[str, Any]:
        f = self.feature
        return {
            "name": f.name,
            "kind": f.kind,
            "columns": list(f.columns),
            "steps": self.steps,
            "outputs": self.outputs,
        }


# -- the pass and the driver -----------------------------------------------------------------


def _split_of(dataset: Any, split: str | None) -> str:
    splits: list[str] = list(dataset.splits)
    if split is None:
        if "train" in splits:
            return "train"
        if len(splits) == 1:
            return splits[0]
        raise ConfigError(f"the dataset has no 'train' split; pass split=, one of {splits}")
    if split not in splits:
        raise ConfigError(f"the dataset has no split {split!r}; its splits: {splits}")
    return split


def _train_statistics(statistics: Any, split: str) -> DatasetStatistics | None:
    if statistics is None:
        return None
    if isinstance(statistics, Statistics):
        return statistics.splits.get(split)
    if isinstance(statistics, DatasetStatistics):
        return statistics
    raise TypeError(
        f"statistics must be Statistics or DatasetStatistics; got {type(statistics).__name__}"
    )


def _one_pass(
    dataset: Any,
    split: str,
    plan: FeaturePlan,
    pending: list[_Fitting],
    target: str | None,
    batch_size: int,
) -> DatasetStatistics:
    """Stream the split once, feeding every pending op's accumulator; return numeric summaries."""
    runtimes = [(f, f.runtime()) for f in pending]
    for f in pending:
        f.start_pass()
    wanted = {c for f in pending for c in f.feature.columns}
    schema = pa.schema([field for field in plan.input_schema if field.name in wanted])
    need_target = any(_need(f.op) == _TARGET for f in pending)
    read = list(schema.names)
    if need_target and target is not None and target not in read:
        read.append(target)
    summaries = DatasetStatistics()
    first_row = 0
    for batch in dataset.batches(split, columns=read, batch_size=batch_size):
        columns, rows = coerce(batch, schema)
        y = to_floats(batch.column(target)) if need_target and target is not None else None
        numbers: dict[str, pa.Array] = {}
        for f, runtime in runtimes:
            values = runtime.value(columns)
            need = _need(f.op)
            if need == _SUMMARY:
                # NaN as NULL, as ingest sees a NULL: the sketches then cut the same chunks.
                numbers[f.key] = pa.array(values, type=pa.float64(), from_pandas=True)
            elif need == _COUNTS:
                f.accumulator.add(values)
            else:
                assert y is not None
                f.accumulator.add(values, y, first_row)
        if numbers:
            summaries.update(pa.RecordBatch.from_pydict(numbers))
        first_row += rows
    return summaries


def fit_transform(
    plan: FeaturePlan,
    dataset: Dataset,
    *,
    statistics: Statistics | DatasetStatistics | None = None,
    target_column: str | None = None,
    seed: int = 0,
    split: str | None = None,
    batch_size: int = 65_536,
) -> FittedTransform:
    """Fit every feature of ``plan`` on a split of ``dataset``.

    Parameters
    ----------
    plan
        From :func:`plan_features`, made with this dataset's schema.
    dataset
        A :class:`shipyard.data.Dataset`.
    statistics
        The dataset's statistics (``Statistics``, or the split's ``DatasetStatistics``):
        the first op of a feature is fitted from them where they are exact
        enough, saving a pass. Fitting without them gives the same result
        (the pass computes the same sketches).
    target_column
        The target, for ``target_encode``; default: ``plan.target``.
    seed
        Seed of the folds of target encoding.
    split
        The split fitted on; default ``train`` (or the only split).
    batch_size
        Rows per batch of the streaming pass.

    Returns
    -------
    FittedTransform
        The fitted transform; ``to_dict()["fit"]`` records the split, rows, seed
        and the number of passes made.

    Raises
    ------
    ConfigError
        The split does not exist, or two features make outputs of the same name.
    """
    target = target_column if target_column is not None else plan.target
    split = _split_of(dataset, split)
    stats = _train_statistics(statistics, split)
    types = {f.name: f.type for f in plan.input_schema}
    fittings = [_Fitting(f, str(i), seed) for i, f in enumerate(plan.features)]
    passes = 0
    while True:
        pending = []
        for f in fittings:
            while not f.done:
                fitted = f.without_data(stats, types.get(f.feature.columns[0], pa.null()))
                if fitted is None:
                    pending.append(f)
                    break
                f.add(fitted)
        if not pending:
            break
        summaries = _one_pass(dataset, split, plan, pending, target, batch_size)
        passes += 1
        for f in pending:
            f.add(f.end_pass(summaries))
    names = _feature_names(fittings)
    spec = {
        "format": FORMAT,
        "inputs": [{"name": f.name, "type": str(f.type)} for f in plan.input_schema],
        "input_schema": schema_to_text(plan.input_schema),
        "features": [f.to_dict() for f in fittings],
        "feature_names": names,
        "target": target,
        "fit": {
            "split": split,
            "rows": int(dataset.num_rows(split)),
            "seed": seed,
            "passes": passes,
        },
    }
    return FittedTransform.from_dict(spec)


def _feature_names(fittings: Iterable[_Fitting]) -> list[str]:
    names: list[str] = []
    owner: dict[str, _Fitting] = {}
    for f in fittings:
        for name in f.outputs:
            if name in owner:
                raise ConfigError(
                    f"features {owner[name].feature.name!r} and {f.feature.name!r} both make an"
                    f" output named {name!r}; rename one of them",
                    field=f.feature.field,
                )
            owner[name] = f
            names.append(name)
    return names
