"""Statistics against exact NumPy answers; merging; serialization; the sketches underneath."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import datasketches
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.validate import (
    ColumnStatistics,
    DatasetStatistics,
    Statistics,
    StatisticsMaterializer,
    compute_statistics,
)
from shipyard.validate._frequent import FrequentItems
from shipyard.validate._hll import HyperLogLog, hash_floats, hash_strings
from shipyard.validate._kll import KLL, normalized_rank_error

HLL_SE = 1.04 / 128  # standard error of 2**14 registers

CARRIERS = np.array(["AA", "UA", "DL", "WN", "B6", "AS"])


def make_table(n: int, seed: int = 0) -> pa.Table:
    """A table with every kind of column, nulls, NaN and inf included."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 3.0 + 10.0
    x[rng.random(n) < 0.05] = np.nan
    x_null = rng.random(n) < 0.05
    ids = rng.integers(0, 10**12, n)
    small = rng.integers(-5, 20, n)
    cat = CARRIERS[rng.integers(0, len(CARRIERS), n)].astype(object)
    cat[rng.random(n) < 0.1] = None
    flag = rng.random(n) < 0.3
    flag_null = rng.random(n) < 0.02
    ts = rng.integers(1_600_000_000_000_000, 1_700_000_000_000_000, n)
    return pa.table(
        {
            "x": pa.array(x, mask=x_null),
            "ids": pa.array(ids),
            "small": pa.array(small, type=pa.int32()),
            "cat": pa.array(cat, type=pa.string()),
            "flag": pa.array(flag, mask=flag_null),
            "ts": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "blob": pa.array([b"ab"] * n, type=pa.binary()),
        }
    )


def batches(table: pa.Table, size: int) -> list[pa.RecordBatch]:
    return list(table.to_batches(max_chunksize=size))


def exact_rank_ok(sorted_values: np.ndarray, q: float, value: float, eps: float) -> bool:
    """Whether ``value`` is a valid ``q``-quantile of the data up to rank error ``eps``."""
    n = sorted_values.size
    lo = np.searchsorted(sorted_values, value, side="left") / n
    hi = np.searchsorted(sorted_values, value, side="right") / n
    return bool(lo - eps <= q <= hi + eps)


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return make_table(200_000)


@pytest.fixture(scope="module")
def stats(table: pa.Table) -> DatasetStatistics:
    return compute_statistics(batches(table, 30_000))


def numeric_values(table: pa.Table, name: str) -> np.ndarray:
    arr: np.ndarray = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    finite: np.ndarray = arr[np.isfinite(arr)]
    return finite


# Exact parts against NumPy ----------------------------------------------------------


def test_numeric_column_matches_numpy(table: pa.Table, stats: DatasetStatistics) -> None:
    col = stats.columns["x"]
    raw = table.column("x").to_numpy(zero_copy_only=False).astype(np.float64)
    values = raw[~np.isnan(raw)]
    assert (col.kind, col.arrow_type, col.count) == ("numeric", "double", table.num_rows)
    assert col.nulls == int(np.isnan(raw).sum())  # nulls and NaN together
    assert col.min == values.min() and col.max == values.max()
    assert col.mean == pytest.approx(values.mean(), rel=1e-12)
    assert col.std == pytest.approx(values.std(), rel=1e-10)


def test_quantiles_are_within_the_rank_error(table: pa.Table, stats: DatasetStatistics) -> None:
    for name in ("x", "ids", "small"):
        col = stats.columns[name]
        exact = np.sort(numeric_values(table, name))
        qs = np.linspace(0.0, 1.0, 41).tolist()
        got = col.quantiles(qs)
        assert col.quantile_error == pytest.approx(normalized_rank_error(200))
        for q, v in zip(qs, got, strict=True):
            assert exact_rank_ok(exact, q, v, col.quantile_error), (name, q, v)
        assert got[0] == exact[0] and got[-1] == exact[-1]


def test_cdf_and_histogram_are_within_the_rank_error(
    table: pa.Table, stats: DatasetStatistics
) -> None:
    col = stats.columns["x"]
    exact = np.sort(numeric_values(table, "x"))
    n = exact.size
    points = [0.0, 5.0, 10.0, 12.5, 30.0]
    for p, f in zip(points, col.cdf(points), strict=True):
        assert abs(f - np.searchsorted(exact, p, side="right") / n) <= col.quantile_error
    edges, counts = col.histogram(8)
    assert len(edges) == 9 and len(counts) == 8 and sum(counts) == n
    assert edges[0] == exact[0] and edges[-1] == exact[-1]
    exact_counts, _ = np.histogram(exact, bins=np.array(edges))
    # Each cumulative count is two rank queries away from the exact one.
    assert np.abs(np.cumsum(counts) - np.cumsum(exact_counts)).max() <= col.quantile_error * n


def test_distinct_counts(table: pa.Table, stats: DatasetStatistics) -> None:
    ids = stats.columns["ids"]
    exact = len(np.unique(table.column("ids").to_numpy()))
    assert abs(ids.distinct - exact) <= 3 * HLL_SE * exact
    x = stats.columns["x"]
    exact_x = len(np.unique(numeric_values(table, "x")))
    assert abs(x.distinct - exact_x) <= 3 * HLL_SE * exact_x
    # Few distinct values: exact, from the frequent-value counters.
    assert stats.columns["small"].distinct == 25.0
    assert stats.columns["cat"].distinct == float(len(CARRIERS))
    assert stats.columns["flag"].distinct == 2.0


def test_top_values_are_exact_for_low_cardinality(
    table: pa.Table, stats: DatasetStatistics
) -> None:
    cat = table.column("cat").to_pylist()
    expected = sorted(
        ((v, cat.count(v)) for v in set(cat) - {None}), key=lambda kv: (-kv[1], kv[0])
    )
    assert stats.columns["cat"].top(k=100) == expected
    assert stats.columns["cat"].top(2) == expected[:2]
    small = table.column("small").to_numpy()
    values, counts = np.unique(small, return_counts=True)
    top = stats.columns["small"].top(3)
    assert all(isinstance(v, int) for v, _ in top)
    order = np.lexsort((values, -counts))[:3]
    assert top == [(int(values[i]), int(counts[i])) for i in order]


def test_categorical_column(table: pa.Table, stats: DatasetStatistics) -> None:
    col = stats.columns["cat"]
    values = [v for v in table.column("cat").to_pylist() if v is not None]
    assert col.kind == "categorical" and col.nulls == table.num_rows - len(values)
    assert (col.min, col.max) == (min(values), max(values))
    assert col.mean is None and col.std is None and math.isnan(col.quantile_error)
    with pytest.raises(TypeError, match="'cat' is categorical"):
        col.quantiles([0.5])
    with pytest.raises(TypeError, match="use top"):
        col.histogram()


def test_boolean_column(table: pa.Table, stats: DatasetStatistics) -> None:
    col = stats.columns["flag"]
    values = np.array([v for v in table.column("flag").to_pylist() if v is not None])
    assert col.kind == "boolean" and col.nulls == table.num_rows - values.size
    assert col.mean == pytest.approx(values.mean()) and col.std == pytest.approx(values.std())
    assert col.top() == [(False, int((~values).sum())), (True, int(values.sum()))]


def test_datetime_column_is_in_epoch_seconds(table: pa.Table, stats: DatasetStatistics) -> None:
    col = stats.columns["ts"]
    seconds = table.column("ts").cast(pa.int64()).to_numpy() / 1e6
    assert col.kind == "datetime" and col.arrow_type == "timestamp[us, tz=UTC]"
    assert col.min == seconds.min() and col.max == seconds.max()
    assert col.mean == pytest.approx(seconds.mean(), rel=1e-12)
    assert col.std == pytest.approx(seconds.std(), rel=1e-9)
    median = col.quantiles([0.5])[0]
    assert exact_rank_ok(np.sort(seconds), 0.5, median, col.quantile_error)


def test_other_columns_get_counts_only(stats: DatasetStatistics) -> None:
    col = stats.columns["blob"]
    assert (col.kind, col.count, col.nulls) == ("other", 200_000, 0)
    assert col.min is None and col.mean is None and math.isnan(col.distinct) and col.top() == []


def test_dates_decimals_and_small_floats() -> None:
    days = np.array([0, 1, 365, 20_000], dtype=np.int32)
    batch = pa.record_batch(
        {
            "d32": pa.array(days, type=pa.date32()),
            "d64": pa.array(days.astype(np.int64) * 86_400_000, type=pa.date64()),
            "dec": pa.array([1, 2, 3, 4], type=pa.decimal128(10, 2)),
            "f16": pa.array(np.array([0.5, 1.5, 2.5, 3.5], dtype=np.float16)),
            "u8": pa.array([1, 2, 3, 250], type=pa.uint8()),
        }
    )
    stats = compute_statistics([batch])
    for name in ("d32", "d64"):
        assert stats.columns[name].kind == "datetime"
        assert stats.columns[name].max == 20_000 * 86_400.0
    assert stats.columns["dec"].mean == 2.5 and stats.columns["f16"].mean == 2.0
    assert stats.columns["u8"].max == 250.0 and stats.columns["u8"].top(1) == [(1, 1)]


# Nulls, NaN, inf, empty -------------------------------------------------------------


def test_nan_is_null_and_inf_is_counted_apart() -> None:
    batch = pa.record_batch({"x": pa.array([1.0, np.nan, None, np.inf, -np.inf, 3.0])})
    col = compute_statistics([batch]).columns["x"]
    assert (col.count, col.nulls, col.infinite) == (6, 2, 2)
    assert (col.min, col.max, col.mean, col.std) == (1.0, 3.0, 2.0, 1.0)
    assert col.quantiles([0.0, 0.5, 1.0]) == [1.0, 1.0, 3.0]


def test_huge_values_do_not_overflow_the_mean() -> None:
    col = compute_statistics([pa.record_batch({"x": [1e308, 1e308, -1e308]})]).columns["x"]
    assert col.mean == pytest.approx(1e308 / 3) and col.std is None  # the variance overflows
    assert (col.min, col.max, col.infinite) == (-1e308, 1e308, 0)
    json.dumps(compute_statistics([]).to_dict(), allow_nan=False)


def test_all_null_and_empty_columns() -> None:
    batch = pa.record_batch(
        {
            "x": pa.array([None, None], type=pa.float64()),
            "s": pa.array([None, None], type=pa.string()),
            "n": pa.array([None, None]),  # Arrow's null type
        }
    )
    stats = compute_statistics([batch, batch.slice(0, 0)])
    x = stats.columns["x"]
    assert (x.count, x.nulls, x.min, x.max, x.mean, x.std) == (2, 2, None, None, None, None)
    assert all(math.isnan(v) for v in x.quantiles([0.1, 0.9]))
    assert x.histogram() == ([], []) and x.top() == [] and x.distinct == 0.0
    s = stats.columns["s"]
    assert (s.count, s.nulls, s.min, s.top(), s.distinct) == (2, 2, None, [], 0.0)
    assert stats.columns["n"].kind == "other" and stats.num_rows == 2
    assert json.loads(json.dumps(stats.to_dict()))  # JSON-able even with nothing in it
    assert stats.summary()[0]["p50"] is None


def test_empty_stream() -> None:
    stats = compute_statistics([])
    assert stats.num_rows == 0 and stats.columns == {} and stats.summary() == []


def test_null_typed_column_takes_the_first_real_type() -> None:
    first = pa.record_batch({"x": pa.array([None, None])})
    second = pa.record_batch({"x": pa.array([1.0, 2.0])})
    col = compute_statistics([first, second]).columns["x"]
    assert (col.kind, col.arrow_type, col.count, col.nulls, col.mean) == (
        "numeric",
        "double",
        4,
        2,
        1.5,
    )
    # The same when merging statistics of shards.
    merged = compute_statistics([first]).merge(compute_statistics([second]))
    assert merged.columns["x"].to_dict() == col.to_dict()
    merged = compute_statistics([second]).merge(compute_statistics([first]))
    assert merged.columns["x"].to_dict() == col.to_dict()


def test_a_column_cannot_change_kind() -> None:
    stats = compute_statistics([pa.record_batch({"x": [1.0]})])
    with pytest.raises(ValueError, match=r"'x' was double \(numeric\).*string \(categorical\)"):
        stats.update(pa.record_batch({"x": ["a"]}))
    other = compute_statistics([pa.record_batch({"y": [2.0], "x": ["a"]})])
    before = stats.to_dict()
    with pytest.raises(ValueError, match="cannot merge column 'x'"):
        stats.merge(other)
    assert stats.to_dict() == before  # nothing half merged


def test_int_and_float_shards_meet_as_double() -> None:
    ints = compute_statistics([pa.record_batch({"x": pa.array([1, 2, 3])})])
    floats = compute_statistics([pa.record_batch({"x": pa.array([3.0, None])})])
    col = ints.merge(floats).columns["x"]
    assert (col.arrow_type, col.count, col.nulls, col.distinct) == ("double", 5, 1, 3.0)
    assert col.top(1) == [(3.0, 2)]


def test_bad_input_is_refused() -> None:
    stats = DatasetStatistics()
    with pytest.raises(TypeError, match="got dict"):
        stats.update({"x": [1]})
    dup = pa.RecordBatch.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(ValueError, match=r"duplicate column names \['a'\]"):
        stats.update(dup)
    col = compute_statistics([pa.record_batch({"x": [1.0]})]).columns["x"]
    with pytest.raises(ValueError, match="ranks in"):
        col.quantiles([1.5])


# Strings in every Arrow form --------------------------------------------------------


def test_string_forms_agree() -> None:
    values = ["b", None, "a", "b", "", "héllo", "b", None]
    plain = pa.array(values)
    forms = {
        "string": plain,
        "large": plain.cast(pa.large_string()),
        "view": plain.cast(pa.string_view()),
        "dict": plain.dictionary_encode(),
    }
    stats = compute_statistics([pa.record_batch(forms), pa.record_batch(forms).slice(2)])
    expected = stats.columns["string"]
    assert expected.top() == [("b", 5), ("", 2), ("a", 2), ("héllo", 2)]
    assert (expected.nulls, expected.min, expected.max) == (3, "", "héllo")
    for name in ("large", "view", "dict"):
        col = stats.columns[name]
        assert col.kind == "categorical"
        assert (col.top(), col.nulls, col.min, col.max, col.distinct) == (
            expected.top(),
            expected.nulls,
            expected.min,
            expected.max,
            expected.distinct,
        )
        assert np.array_equal(col._hll.registers, expected._hll.registers)  # type: ignore[union-attr]


def test_high_cardinality_strings() -> None:
    n = 150_000
    rng = np.random.default_rng(3)
    ids = pa.array([f"user-{i}" for i in rng.integers(0, 60_000, n)])
    common = pa.array(["common"] * 20_000)
    stats = compute_statistics([pa.record_batch({"s": ids}), pa.record_batch({"s": common})])
    col = stats.columns["s"]
    exact = len(set(ids.to_pylist())) + 1
    assert abs(col.distinct - exact) <= 3 * HLL_SE * exact
    value, count = col.top(1)[0]
    # Misra-Gries: a lower bound at most n / (capacity + 1) below the truth.
    assert value == "common" and 20_000 - (n + 20_000) / 1025 <= count <= 20_000


# Determinism and batching -----------------------------------------------------------


def test_results_do_not_depend_on_batch_sizes(table: pa.Table, stats: DatasetStatistics) -> None:
    small = table.slice(0, 150_000)
    a = compute_statistics(batches(small, 1_000)).to_dict()
    b = compute_statistics([small]).to_dict()
    c = compute_statistics(batches(small, 70_001)).to_dict()
    assert a == b == c


def test_same_data_same_bytes(table: pa.Table) -> None:
    one = json.dumps(compute_statistics(batches(table, 50_000)).to_dict(), sort_keys=True)
    two = json.dumps(compute_statistics(batches(table, 50_000)).to_dict(), sort_keys=True)
    assert one == two


def test_a_table_with_chunked_columns(table: pa.Table, stats: DatasetStatistics) -> None:
    chunked = pa.Table.from_batches(batches(table, 30_000))
    assert compute_statistics([chunked]).to_dict() == stats.to_dict()


# Merge --------------------------------------------------------------------------------


def assert_merged_matches(merged: DatasetStatistics, whole: DatasetStatistics) -> None:
    assert merged.num_rows == whole.num_rows
    assert list(merged.columns) == list(whole.columns)
    for name, w in whole.columns.items():
        m = merged.columns[name]
        assert (m.kind, m.count, m.nulls, m.infinite) == (w.kind, w.count, w.nulls, w.infinite)
        assert (m.min, m.max) == (w.min, w.max), name
        for a, b in ((m.mean, w.mean), (m.std, w.std)):
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
        if m.kind in ("categorical", "boolean") or name == "small":
            assert m.top(100) == w.top(100), name
            assert m.distinct == w.distinct
        if m.kind in ("numeric", "datetime") and w.count > w.nulls:
            # Both sketches estimate the same data: a quantile of one has, in the other,
            # a rank within both their errors.
            eps = m.quantile_error + w.quantile_error
            ranks = np.linspace(0, 1, 21)
            values = m.quantiles(ranks.tolist())
            assert w._kll is not None
            at_most = w._kll.rank(values, inclusive=True)
            below = w._kll.rank(values, inclusive=False)
            assert np.all(at_most >= ranks - eps) and np.all(below <= ranks + eps), name


def test_merge_of_shards_equals_the_whole(table: pa.Table, stats: DatasetStatistics) -> None:
    parts = [table.slice(0, 50_000), table.slice(50_000, 120_000), table.slice(170_000)]
    shards = [compute_statistics(batches(p, 30_000)) for p in parts]
    merged = DatasetStatistics()
    for s in shards:
        merged.merge(s)
    assert_merged_matches(merged, stats)
    reverse = DatasetStatistics()
    for s in reversed(shards):
        assert reverse.merge(s) is reverse
    assert_merged_matches(reverse, stats)
    ids = merged.columns["ids"]
    exact = len(np.unique(table.column("ids").to_numpy()))
    assert abs(ids.distinct - exact) <= 3 * HLL_SE * exact


def test_merge_leaves_the_other_unchanged(table: pa.Table) -> None:
    a = compute_statistics([table.slice(0, 1000)])
    b = compute_statistics([table.slice(1000, 1000)])
    before = b.to_dict()
    a.merge(b)
    a.update(table.slice(2000, 500))
    assert b.to_dict() == before
    twice = compute_statistics([table.slice(0, 1000)])
    twice.merge(twice)
    assert twice.num_rows == 2000 and twice.columns["x"].count == 2000


def test_columns_missing_from_one_side() -> None:
    a = compute_statistics([pa.record_batch({"x": [1.0], "y": ["u"]})])
    b = compute_statistics([pa.record_batch({"z": [True], "x": [3.0]})])
    merged = a.merge(b)
    assert list(merged.columns) == ["x", "y", "z"]
    assert merged.columns["x"].mean == 2.0 and merged.columns["z"].count == 1


def test_round_trip_then_merge(table: pa.Table, stats: DatasetStatistics) -> None:
    first, second = table.slice(0, 90_000), table.slice(90_000)
    a = DatasetStatistics.from_dict(json.loads(json.dumps(compute_statistics([first]).to_dict())))
    b = DatasetStatistics.from_dict(compute_statistics([second]).to_dict())
    assert_merged_matches(a.merge(b), stats)
    # A read-back statistics object still takes batches.
    c = DatasetStatistics.from_dict(compute_statistics([first]).to_dict())
    c.update(second)
    assert_merged_matches(c, stats)
    assert DatasetStatistics.from_dict(stats.to_dict()).to_dict() == stats.to_dict()


def test_from_dict_refuses_other_formats(stats: DatasetStatistics) -> None:
    d = stats.to_dict()
    with pytest.raises(ValueError, match="version 99"):
        DatasetStatistics.from_dict({**d, "version": 99})
    with pytest.raises(ValueError, match="cannot read Statistics"):
        Statistics.from_dict({"splits": {}})


SMALL = make_table(3_000, seed=11)
SMALL_WHOLE = compute_statistics([SMALL])


@settings(derandomize=True, max_examples=25, deadline=None)
@given(
    cuts=st.lists(st.integers(0, SMALL.num_rows), max_size=6),
    order=st.randoms(use_true_random=False),
)
def test_random_shard_splits_merge_to_the_whole(cuts: list[int], order: Any) -> None:
    bounds = sorted({0, SMALL.num_rows, *cuts})
    shards = [
        compute_statistics([SMALL.slice(lo, hi - lo)])
        for lo, hi in zip(bounds, bounds[1:], strict=False)
    ]
    order.shuffle(shards)
    merged = DatasetStatistics()
    for s in shards:
        merged.merge(DatasetStatistics.from_dict(s.to_dict()))
    assert_merged_matches(merged, SMALL_WHOLE)
    exact = np.sort(numeric_values(SMALL, "x"))
    col = merged.columns["x"]
    for q, v in zip([0.1, 0.5, 0.9], col.quantiles([0.1, 0.5, 0.9]), strict=True):
        assert exact_rank_ok(exact, q, v, col.quantile_error)


# Summary, Statistics, materializer --------------------------------------------------


def test_summary_rows(stats: DatasetStatistics) -> None:
    rows = {r["name"]: r for r in stats.summary()}
    assert list(rows) == ["x", "ids", "small", "cat", "flag", "ts", "blob"]
    x = rows["x"]
    assert set(x) == {
        "name", "kind", "type", "count", "nulls", "null_fraction", "min", "max",
        "mean", "std", "p50", "distinct", "top3",
    }  # fmt: skip
    assert x["null_fraction"] == x["nulls"] / x["count"] and x["p50"] is not None
    assert rows["cat"]["top3"] == [[v, c] for v, c in stats.columns["cat"].top(3)]
    assert rows["blob"]["distinct"] is None and rows["cat"]["p50"] is None
    json.dumps(list(rows.values()), allow_nan=False)


def test_statistics_artifact_round_trip(stats: DatasetStatistics, tmp_path: Path) -> None:
    value = Statistics({"train": stats, "eval": compute_statistics([make_table(100, 5)])})
    back = Statistics.from_dict(json.loads(json.dumps(value.to_dict(), allow_nan=False)))
    assert list(back.splits) == ["train", "eval"]
    assert back["train"].to_dict() == stats.to_dict()
    m = StatisticsMaterializer()
    props = m.save(value, tmp_path)
    assert props == {"class": "Statistics", "rows": {"train": 200_000, "eval": 100}}
    loaded = m.load(tmp_path, props, "shipyard.validate.stats.Statistics")
    assert isinstance(loaded, Statistics) and loaded.to_dict() == value.to_dict()


def test_materializer_through_the_artifact_store(stats: DatasetStatistics, tmp_path: Path) -> None:
    from shipyard.pipeline.materializers import LAZY_BUILTINS, load_value, save_value
    from shipyard.store.artifacts import LocalArtifactStore

    assert LAZY_BUILTINS["statistics"][0] == "shipyard.validate.stats:StatisticsMaterializer"
    store = LocalArtifactStore(tmp_path / "arts")
    for value in (Statistics({"all": stats}), stats):
        info = save_value(value, store)
        assert info["type"] == "statistics" and not info["unsafe"]
        back = load_value(info["digest"], store)
        assert type(back) is type(value) and back.to_dict() == value.to_dict()
        # Same statistics, same digest: a replayed run reproduces it.
        assert save_value(value, store)["digest"] == info["digest"]


# The sketches underneath ----------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 7, 199, 200, 1_000, 70_000, 400_000])
def test_kll_bytes_load_in_datasketches(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.standard_normal(n)
    sketch = KLL()
    for i in range(0, n, 65_536):
        sketch.update_sorted(np.sort(values[i : i + 65_536]))
    theirs = datasketches.kll_doubles_sketch.deserialize(sketch.serialize())
    assert theirs.n == n and theirs.is_empty() == (n == 0)
    if n:
        qs = np.linspace(0.01, 0.99, 50)
        assert np.array_equal(theirs.get_quantiles(qs.tolist(), True), sketch.quantiles(qs))
        assert (theirs.get_min_value(), theirs.get_max_value()) == (sketch.min, sketch.max)
        exact = np.sort(values)
        for q, v in zip(qs, sketch.quantiles(qs), strict=True):
            assert exact_rank_ok(exact, q, v, sketch.normalized_rank_error())
    again = KLL.deserialize(sketch.serialize())
    assert again.serialize() == sketch.serialize()


def test_kll_reads_datasketches_bytes() -> None:
    values = np.random.default_rng(1).standard_normal(100_000)
    theirs = datasketches.kll_doubles_sketch(200)
    theirs.update(values)
    ours = KLL.deserialize(theirs.serialize())
    qs = np.linspace(0.01, 0.99, 25)
    assert np.array_equal(ours.quantiles(qs), theirs.get_quantiles(qs.tolist(), True))
    ours.merge(KLL.deserialize(theirs.serialize()))
    assert ours.n == 200_000
    assert ours.normalized_rank_error() == pytest.approx(theirs.normalized_rank_error(False))
    with pytest.raises(ValueError, match="not a KLL"):
        KLL.deserialize(datasketches.hll_sketch(12).serialize_compact())


@pytest.mark.parametrize("n", [1, 10, 100, 5_000, 300_000])
def test_hll_accuracy(n: int) -> None:
    values = np.random.default_rng(n).standard_normal(n)
    hll = HyperLogLog()
    for i in range(0, n, 65_536):
        hll.add(hash_floats(values[i : i + 65_536]).copy())
    assert abs(hll.estimate() - n) <= max(3 * HLL_SE * n, 1.0)
    assert HyperLogLog().estimate() == 0.0


def test_hashes_never_change() -> None:
    # Stored sketches are merged with new ones: these values are part of the format.
    floats = hash_floats(np.array([0.0, 1.0, -2.5, 1e300])).tolist()
    assert floats == [
        16294208416658607535,
        9860564707913756141,
        16147957956850547208,
        18400163445926009254,
    ]
    strings = hash_strings(pa.array(["", "a", "héllo", "a\x00"])).tolist()
    assert strings == [
        16294208416658607535,
        11484309206301288700,
        6573370258646512141,
        8423979294143967762,
    ]
    sliced = pa.array(["x", "", "a", "héllo", "a\x00"]).slice(1)
    assert hash_strings(sliced).tolist() == strings
    assert hash_strings(pa.array(["", "a"], type=pa.large_string())).tolist() == strings[:2]


def test_frequent_items_merge_like_one_summary() -> None:
    rng = np.random.default_rng(9)
    data = rng.zipf(1.5, 50_000)
    data = data[data < 10_000].astype(np.float64)
    halves = [FrequentItems(capacity=64) for _ in range(2)]
    for part, summary in zip(np.array_split(data, 2), halves, strict=True):
        values, counts = np.unique(part, return_counts=True)
        summary.update(values, counts)
    halves[0].merge(halves[1])
    merged = halves[0]
    true_values, true_counts = np.unique(data, return_counts=True)
    truth = dict(zip(true_values.tolist(), true_counts.tolist(), strict=True))
    assert len(merged.counts) <= 64 and merged.offset <= data.size / 65
    for value, count in merged.counts.items():
        assert truth[value] - merged.offset <= count <= truth[value]
    # Every value more frequent than the error bound is still there.
    for value, count in truth.items():
        if count > merged.offset:
            assert value in merged.counts
    assert FrequentItems.from_dict(json.loads(json.dumps(merged.to_dict()))).top() == merged.top()


def test_column_statistics_merge_directly() -> None:
    a = ColumnStatistics("x", pa.int64())
    b = ColumnStatistics("x", pa.int64())
    a._update(pa.array([1, 2, 3]))
    b._update(pa.array([4, None]))
    assert a.merge(b) is a and (a.count, a.nulls, a.mean) == (5, 1, 2.5)
    assert repr(a).startswith("ColumnStatistics(name='x', kind='numeric'")
