"""Each op's math against NumPy (and plain Python), fitted on real ingested Datasets."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from shipyard.transform import FittedTransform, fit_transform, plan_features
from shipyard.transform._hash import hash_strings

from . import SPLITS, fit_table, ingest_table, shard_dataset

RNG = np.random.default_rng(7)
N = 151
X = RNG.normal(3.0, 2.0, N).round(3)
X[[3, 50, 77]] = np.nan
NUMBERS = pa.table({"x": pa.array(X, from_pandas=True)})  # NaN -> NULL in Arrow
VALID = X[~np.isnan(X)]


def _fit(
    tmp_path: Path, table: pa.Table, *transforms: dict[str, Any], **kw: Any
) -> FittedTransform:
    column = table.column_names[0]
    spec: dict[str, Any] = {"name": column, "transforms": list(transforms)}
    if "kind" in kw:
        spec["kind"] = kw.pop("kind")
    return fit_table(tmp_path, table, {"columns": [spec]}, **kw)


def _same(actual: np.ndarray, expected: Any) -> None:
    expected = np.asarray(expected, dtype=np.float64).astype(np.float32)
    assert actual.dtype == np.float32
    np.testing.assert_array_equal(actual.reshape(expected.shape), expected)


def test_impute_mean_median_constant(tmp_path: Path) -> None:
    median = np.quantile(VALID, 0.5, method="inverted_cdf")  # the KLL sketch's definition
    for i, (params, fill) in enumerate(
        [
            ({"strategy": "median"}, median),
            ({"strategy": "constant", "value": -1}, -1.0),
            ({"value": 2.5}, 2.5),
        ]
    ):
        fitted = _fit(tmp_path / str(i), NUMBERS, {"op": "impute", **params})
        _same(fitted.apply(NUMBERS), np.where(np.isnan(X), fill, X))
    fitted = _fit(tmp_path / "mean", NUMBERS, {"op": "impute", "strategy": "mean"})
    value = fitted.to_dict()["features"][0]["steps"][0]["fitted"]["value"]
    assert value == pytest.approx(VALID.mean(), rel=1e-12)
    _same(fitted.apply(NUMBERS), np.where(np.isnan(X), value, X))


def test_without_imputation_missing_values_are_nan(tmp_path: Path) -> None:
    fitted = _fit(tmp_path, NUMBERS, {"op": "clip", "lower": 1, "upper": 4})
    _same(fitted.apply(NUMBERS), np.clip(X, 1, 4))
    assert np.isnan(fitted.apply(NUMBERS)[[3, 50, 77], 0]).all()


def test_clip_log1p_standardize_minmax(tmp_path: Path) -> None:
    fitted = _fit(tmp_path / "a", NUMBERS, {"op": "clip", "lower": 0}, {"op": "log1p"})
    _same(fitted.apply(NUMBERS), np.log1p(np.clip(X, 0, None)))
    fitted = _fit(tmp_path / "b", NUMBERS, {"op": "clip", "upper": 4})
    _same(fitted.apply(NUMBERS), np.minimum(X, 4))

    fitted = _fit(tmp_path / "c", NUMBERS, {"op": "standardize"})
    step = fitted.to_dict()["features"][0]["steps"][0]["fitted"]
    assert step["mean"] == pytest.approx(VALID.mean(), rel=1e-12)
    assert step["scale"] == pytest.approx(VALID.std(), rel=1e-12)  # population std, ddof=0
    _same(fitted.apply(NUMBERS), (X - step["mean"]) / step["scale"])
    np.testing.assert_allclose(
        fitted.apply(NUMBERS)[:, 0], (X - X[~np.isnan(X)].mean()) / VALID.std(), rtol=1e-5
    )

    fitted = _fit(tmp_path / "d", NUMBERS, {"op": "minmax"})
    step = fitted.to_dict()["features"][0]["steps"][0]["fitted"]
    assert (step["min"], step["range"]) == (VALID.min(), VALID.max() - VALID.min())
    out = fitted.apply(NUMBERS)[:, 0]
    assert np.nanmin(out) == 0.0 and np.nanmax(out) == 1.0
    _same(out, (X - VALID.min()) / (VALID.max() - VALID.min()))


def test_ops_are_fitted_on_what_the_ops_before_them_make(tmp_path: Path) -> None:
    fitted = _fit(
        tmp_path,
        NUMBERS,
        {"op": "impute", "strategy": "median"},
        {"op": "clip", "lower": 0},
        {"op": "log1p"},
        {"op": "standardize"},
    )
    median = np.quantile(VALID, 0.5, method="inverted_cdf")
    logged = np.log1p(np.clip(np.where(np.isnan(X), median, X), 0, None))
    step = fitted.to_dict()["features"][0]["steps"][3]["fitted"]
    assert step["mean"] == pytest.approx(logged.mean(), rel=1e-12)
    assert step["scale"] == pytest.approx(logged.std(), rel=1e-12)
    assert fitted.to_dict()["fit"]["passes"] == 1  # the median from statistics, then one pass


def test_a_constant_or_empty_column_does_not_divide_by_zero(tmp_path: Path) -> None:
    table = pa.table({"x": pa.array([2.0, 2.0, None, 2.0])})
    fitted = _fit(tmp_path / "a", table, {"op": "standardize"}, {"op": "minmax"})
    _same(fitted.apply(table), [0.0, 0.0, np.nan, 0.0])
    empty = pa.table({"x": pa.array([None, None], pa.float64())})
    fitted = _fit(tmp_path / "b", empty, {"op": "impute", "strategy": "median"})
    _same(fitted.apply(empty), [0.0, 0.0])  # no value to take a median of: 0


def test_quantile_buckets(tmp_path: Path) -> None:
    fitted = _fit(tmp_path, NUMBERS, {"op": "quantile_buckets", "buckets": 4}, {"op": "ordinal"})
    edges = np.quantile(VALID, [0.25, 0.5, 0.75], method="inverted_cdf")
    assert fitted.to_dict()["features"][0]["steps"][0]["fitted"]["edges"] == edges.tolist()
    expected = np.searchsorted(edges, X, side="right").astype(float)
    expected[np.isnan(X)] = np.nan
    _same(fitted.apply(NUMBERS), expected)
    onehot = _fit(
        tmp_path / "o", NUMBERS, {"op": "quantile_buckets", "buckets": 4}, {"op": "onehot"}
    )
    assert onehot.feature_names == ["x#0", "x#1", "x#2", "x#3"]
    out = onehot.apply(NUMBERS)
    assert (out.sum(axis=1) == np.where(np.isnan(X), 0, 1)).all()
    assert (out.argmax(axis=1)[~np.isnan(X)] == expected[~np.isnan(X)]).all()


CITIES = pa.table(
    {"city": ["paris"] * 5 + ["lyon"] * 3 + ["nice"] * 3 + ["brest"] + [None] * 2 + ["ajaccio"]}
)


def test_vocabulary_min_frequency_oov_and_null(tmp_path: Path) -> None:
    fitted = _fit(tmp_path, CITIES, {"op": "vocabulary", "min_frequency": 2}, {"op": "onehot"})
    step = fitted.to_dict()["features"][0]["steps"][0]["fitted"]
    # Most frequent first; ties by value.
    assert step == {"values": ["paris", "lyon", "nice"], "counts": [5, 3, 3]}
    assert fitted.feature_names == ["city=paris", "city=lyon", "city=nice", "city=<oov>"]
    out = fitted.apply({"city": ["lyon", "brest", None, "never seen", "paris"]})
    _same(
        out,
        [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]],
    )
    ordinal = _fit(tmp_path / "o", CITIES, {"op": "vocabulary", "max_size": 2}, {"op": "ordinal"})
    _same(ordinal.apply({"city": ["lyon", "nice", None, "paris"]}), [[1], [2], [np.nan], [0]])


def test_top_k_and_several_oov_buckets(tmp_path: Path) -> None:
    fitted = _fit(tmp_path, CITIES, {"op": "top_k", "k": 2, "oov_buckets": 3}, {"op": "ordinal"})
    values = ["lyon", "nice", "brest", "zzz", "paris"]
    out = fitted.apply({"city": values})[:, 0]
    hashes = hash_strings(pa.array(values)) % np.uint64(3)
    assert out.tolist() == [1.0, 2.0 + hashes[1], 2.0 + hashes[2], 2.0 + hashes[3], 0.0]
    assert fitted.feature_names == ["city"]
    onehot = _fit(tmp_path / "o", CITIES, {"op": "top_k", "k": 2, "oov_buckets": 2})
    assert onehot.feature_names == ["city=paris", "city=lyon", "city=<oov0>", "city=<oov1>"]


def test_encode_chooses_onehot_up_to_max_onehot(tmp_path: Path) -> None:
    few = _fit(tmp_path / "a", CITIES, {"op": "vocabulary"}, {"op": "encode", "max_onehot": 5})
    assert len(few.feature_names) == 6  # 5 values + OOV
    many = _fit(tmp_path / "b", CITIES, {"op": "vocabulary"}, {"op": "encode", "max_onehot": 4})
    assert many.feature_names == ["city"]


def _fnv1a_fmix(text: str) -> int:
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & mask
    for c in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        h ^= h >> 33
        h = (h * c) & mask
    return h ^ (h >> 33)


def test_hashing_is_fnv1a_of_the_utf8_bytes(tmp_path: Path) -> None:
    words = ["", "a", "paris", "Zürich", "東京", "x" * 300, "paris", "a\x00b"]
    assert hash_strings(pa.array(words)).tolist() == [_fnv1a_fmix(w) for w in words]
    assert hash_strings(pa.array(words, pa.large_string()).slice(2)).tolist() == [
        _fnv1a_fmix(w) for w in words[2:]
    ]
    # Pinned: a hash that changed would move every value of every saved model.
    assert _fnv1a_fmix("paris") == 0x6BEBC9946C9FF506
    fitted = _fit(tmp_path, CITIES, {"op": "hashing", "buckets": 7}, {"op": "ordinal"})
    out = fitted.apply({"city": ["paris", None, "東京"]})[:, 0]
    assert out[0] == _fnv1a_fmix("paris") % 7 and np.isnan(out[1])
    assert out[2] == _fnv1a_fmix("東京") % 7


def test_integers_and_booleans_as_categories(tmp_path: Path) -> None:
    table = pa.table({"month": pa.array([1, 1, 2, 12, None], pa.int64())})
    fitted = _fit(tmp_path / "m", table, kind="categorical")
    assert fitted.feature_names == ["month=1", "month=12", "month=2", "month=<oov>"]
    _same(fitted.apply({"month": [12, 3]}), [[0, 1, 0, 0], [0, 0, 0, 1]])
    table = pa.table({"flag": pa.array([True, False, True, None])})
    fitted = _fit(tmp_path / "b", table)
    assert fitted.feature_names == ["flag=true", "flag=false", "flag=<oov>"]
    _same(fitted.apply({"flag": [False, None]}), [[0, 1, 0], [0, 0, 0]])


def test_categorical_imputation(tmp_path: Path) -> None:
    fitted = _fit(
        tmp_path, CITIES, {"op": "impute", "strategy": "most_frequent"}, {"op": "ordinal"}
    )
    _same(fitted.apply({"city": [None, "nice"]}), [[0], [2]])
    fitted = _fit(tmp_path / "c", CITIES, {"op": "impute", "value": "unknown"}, {"op": "onehot"})
    assert "city=unknown" in fitted.feature_names
    out = fitted.apply({"city": [None]})
    assert out[0, fitted.feature_names.index("city=unknown")] == 1.0


TIMES = [
    datetime(2024, 1, 1, 0, 30),
    datetime(2024, 2, 29, 13, 5),
    None,
    datetime(2023, 12, 31, 23, 59, 59),
    datetime(1969, 7, 20, 20, 17),
]


def _parts_expected(times: list[datetime | None]) -> np.ndarray:
    rows = []
    for t in times:
        if t is None:
            rows.append([np.nan] * 10)
            continue
        row = [t.hour, t.weekday(), t.month, t.day]
        for value, period in ((t.hour, 24), (t.weekday(), 7), (t.month - 1, 12)):
            angle = 2 * math.pi * value / period
            row += [math.sin(angle), math.cos(angle)]
        rows.append(row)
    return np.array(rows)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_datetime_parts_and_cyclical(tmp_path: Path, unit: str) -> None:
    table = pa.table({"t": pa.array(TIMES, pa.timestamp(unit))})
    fitted = _fit(
        tmp_path,
        table,
        {"op": "parts", "parts": ["hour", "weekday", "month", "day"]},
        {"op": "cyclical"},
    )
    assert fitted.feature_names == [
        "t.hour", "t.weekday", "t.month", "t.day",
        "t.hour_sin", "t.hour_cos", "t.weekday_sin", "t.weekday_cos", "t.month_sin", "t.month_cos",
    ]  # fmt: skip
    _same(fitted.apply(table), _parts_expected(TIMES))


def test_datetimes_with_a_time_zone_use_its_local_time(tmp_path: Path) -> None:
    utc = [datetime(2024, 7, 1, 22, 30, tzinfo=UTC), None]
    table = pa.table({"t": pa.array(utc, pa.timestamp("us", "Europe/Paris"))})
    # Ingest stores zoned timestamps in UTC (DuckDB's TIMESTAMPTZ), so fit on a shard as is.
    dataset = shard_dataset(tmp_path, table, split="train")
    parts = {"op": "parts", "parts": ["hour", "weekday", "day"]}
    plan = plan_features({"columns": [{"name": "t", "transforms": [parts]}]}, dataset.schema)
    fitted = fit_transform(plan, dataset)
    assert fitted.input_schema.field("t").type == pa.timestamp("us", "Europe/Paris")
    # 22:30 UTC on Monday 1 July is 00:30 on Tuesday 2 July in Paris (UTC+2).
    _same(fitted.apply(table), [[0, 1, 2], [np.nan] * 3])
    # JSON rows: ISO strings with any offset, or naive (taken as UTC), name the same instant.
    rows = {"t": ["2024-07-01T22:30:00Z", "2024-07-02T00:30:00+02:00", "2024-07-01 22:30:00"]}
    _same(fitted.apply(rows), [[0, 1, 2]] * 3)


def test_datetimes_from_iso_strings_and_dates(tmp_path: Path) -> None:
    strings = pa.table(
        {"t": ["2024-02-29T13:05:00", "2024-02-29 15:05:00+02:00", None, "2024-03-01"]}
    )
    fitted = _fit(
        tmp_path / "s", strings, {"op": "parts", "parts": ["hour", "day"]}, kind="datetime"
    )
    _same(fitted.apply(strings), [[13, 29], [13, 29], [np.nan, np.nan], [0, 1]])
    with pytest.raises(ValueError, match=r"column 't' holds values such as 'soon' that are not"):
        fitted.apply({"t": ["2024-01-01", "soon"]})
    dates = pa.table({"d": pa.array([datetime(2024, 3, 4).date(), None], pa.date32())})
    fitted = _fit(tmp_path / "d", dates, {"op": "parts", "parts": ["weekday", "month"]})
    _same(fitted.apply(dates), [[0, 3], [np.nan, np.nan]])


def test_crosses_with_a_vocabulary_or_hashed(tmp_path: Path) -> None:
    table = pa.table(
        {
            "a": ["x", "x", "y", "y", None],
            "b": pa.array([1, 2, 1, 1, 1], pa.int64()),
        }
    )
    features = {
        "columns": [{"name": "a"}, {"name": "b", "kind": "categorical"}],
        "crosses": [
            {"columns": ["a", "b"]},
            {"columns": ["a", "b"], "name": "h", "hash_buckets": 50},
        ],
    }
    fitted = fit_table(tmp_path, table, features)
    names = fitted.feature_names
    assert names[-5:-1] == ["a_x_b=y&1", "a_x_b=x&1", "a_x_b=x&2", "a_x_b=<oov>"]
    assert names[-1] == "h"  # 50 buckets > 20: ordinal
    out = fitted.apply({"a": ["y", "x", "z", None], "b": [1, 2, 1, 1]})
    cross = out[:, len(names) - 5 : len(names) - 1]
    _same(cross, [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    hashed = out[:, -1]
    joined = hash_strings(pa.array(["y\x1f1", "x\x1f2", "z\x1f1"])) % np.uint64(50)
    assert hashed[:3].tolist() == joined.astype(float).tolist() and np.isnan(hashed[3])


def test_ingest_to_fit_to_apply_with_the_default_plan(tmp_path: Path) -> None:
    n = 3000
    rng = np.random.default_rng(1)
    start = datetime(2024, 1, 1)
    table = pa.table(
        {
            "id": np.arange(n),
            "x": rng.normal(size=n),
            "k": rng.integers(0, 50, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "ts": pa.array([start + timedelta(hours=int(h)) for h in rng.integers(0, 9000, n)]),
            "y": rng.integers(0, 2, n),
        }
    )
    result = ingest_table(tmp_path, table, splits=SPLITS, key="id", target="y")
    plan = plan_features({}, result.dataset.schema, target="y", key="id")
    fitted = fit_transform(plan, result.dataset, statistics=result.statistics)
    assert fitted.input_columns == ["x", "k", "city", "ts"]
    assert fitted.feature_names[:2] == ["x", "k"] and fitted.feature_names[5] == "city=<oov>"
    assert sorted(fitted.feature_names[2:5]) == ["city=lyon", "city=nice", "city=paris"]
    assert len(fitted.feature_names) == 2 + 4 + 3 + 6
    test = result.dataset.to_table("test")
    out = fitted.apply(test)
    assert out.shape == (test.num_rows, 15) and out.flags.c_contiguous
    assert not np.isnan(out).any()
    _same(out[:, 0], test.column("x").to_numpy())
    assert (out[:, 2:6].sum(axis=1) == 1).all()
