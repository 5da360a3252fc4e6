"""Training and serving give bit-identical features, on random rows.

The training path reads rows from a Dataset's Parquet shards in batches; the
serving path gets the same rows as Python dicts or JSON-decoded lists, one
request at a time or all together. Both call ``apply_transform``, and every
path must give the same float32 bytes, NULLs, NaN, infinities, unseen
categories and odd strings included.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.data import IngestResult
from shipyard.transform import FittedTransform, fit_transform, plan_features

from . import SPLITS, ingest_table, shard_dataset

SEEN = ["paris", "lyon", "nice", "brest", "Zürich", ""]
FEATURES: dict[str, Any] = {
    "columns": [
        {
            "name": "num",
            "transforms": [
                {"op": "impute", "strategy": "median"},
                {"op": "clip", "lower": -2, "upper": 2},
                {"op": "standardize"},
            ],
        },
        {"name": "mm", "transforms": [{"op": "minmax"}]},
        {
            "name": "cnt",
            "transforms": [
                {"op": "log1p"},
                {"op": "quantile_buckets", "buckets": 5},
                {"op": "onehot"},
            ],
        },
        {
            "name": "cat",
            "transforms": [{"op": "vocabulary", "min_frequency": 3, "oov_buckets": 2}],
        },
        {"name": "code", "kind": "categorical", "transforms": [{"op": "hashing", "buckets": 16}]},
        {"name": "flag"},
        {"name": "grp", "transforms": [{"op": "target_encode", "smoothing": 4}]},
        {"name": "when"},
        {
            "name": "when_tz",
            "transforms": [
                {"op": "parts", "parts": ["year", "dayofyear", "minute"]},
                {"op": "cyclical", "parts": ["dayofyear", "minute", "day"]},
            ],
        },
        {"name": "iso", "kind": "datetime"},
    ],
    "crosses": [
        {"columns": ["cat", "flag"]},
        {"columns": ["cat", "code"], "name": "cat_code", "hash_buckets": 8},
    ],
}


def _training_table(n: int) -> pa.Table:
    rng = np.random.default_rng(5)

    def holes(values: Any, fraction: float = 0.05) -> list[Any]:
        out = list(values)
        for i in np.flatnonzero(rng.random(n) < fraction):
            out[i] = None
        return out

    start = datetime(2020, 1, 1)
    offsets = [UTC, timezone(timedelta(hours=5, minutes=30)), None]
    iso = [
        (start + timedelta(seconds=int(s))).replace(tzinfo=offsets[i % 3]).isoformat()
        for i, s in enumerate(rng.integers(0, 10**8, n))
    ]
    return pa.table(
        {
            "id": np.arange(n),
            "num": pa.array(holes(rng.normal(size=n)), pa.float64()),
            "mm": rng.uniform(-3, 7, n),
            "cnt": pa.array(holes(rng.integers(-3, 10_000, n)), pa.int64()),
            "cat": pa.array(holes(rng.choice([*SEEN, "rare"], n, p=[0.1665] * 6 + [0.001]))),
            "code": pa.array(holes(rng.integers(0, 40, n)), pa.int64()),
            "flag": pa.array(holes(rng.random(n) < 0.3), pa.bool_()),
            "grp": pa.array(holes(rng.choice(list("abcdefgh"), n))),
            "when": pa.array(holes(start + timedelta(minutes=int(m)) for m in rng.integers(0, 10**6, n)), pa.timestamp("us")),
            "when_tz": pa.array(
                holes(datetime(2021, 6, 1, tzinfo=UTC) + timedelta(seconds=int(s)) for s in rng.integers(0, 10**8, n)),
                pa.timestamp("ms", "UTC"),
            ),
            "iso": pa.array(holes(iso)),
            "y": rng.random(n) < 0.4,
        }
    )  # fmt: skip


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[FittedTransform, IngestResult]:
    folder = tmp_path_factory.mktemp("parity")
    result = ingest_table(folder, _training_table(4000), splits=SPLITS, key="id", target="y")
    plan = plan_features(FEATURES, result.dataset.schema, target="y", key="id")
    return fit_transform(plan, result.dataset, statistics=result.statistics), result


def _columns(rows: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


def _serving_paths(fitted: FittedTransform, table: pa.Table) -> list[np.ndarray]:
    """The features of ``table``'s rows as a server would compute them, several ways."""
    names = fitted.input_columns
    rows = table.to_pylist()
    decoded = json.loads(json.dumps(rows, default=str))
    empty = np.zeros((0, len(fitted.feature_names)), np.float32)
    return [
        # Python dicts -> an Arrow table with the input signature.
        fitted.apply(pa.Table.from_pylist(rows, schema=fitted.input_schema)),
        # Lists of Python values, and of JSON-decoded values (datetimes as strings).
        fitted.apply(_columns(rows, names)),
        fitted.apply(_columns(decoded, names)),
        # One request per row.
        np.concatenate([fitted.apply(_columns([row], names)) for row in decoded] or [empty]),
    ]


def _training_path(fitted: FittedTransform, table: pa.Table, folder: Path) -> np.ndarray:
    dataset = shard_dataset(folder, table, split="test")
    batches = [x for x, _ in fitted.iter_features(dataset, "test", batch_size=7)]
    return (
        np.concatenate(batches) if batches else np.zeros((0, len(fitted.feature_names)), np.float32)
    )


def _assert_identical(expected: np.ndarray, actual: np.ndarray) -> None:
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    assert np.array_equal(actual, expected, equal_nan=True)
    assert actual.tobytes() == expected.tobytes()  # bit for bit, NaN payloads included


def test_the_ingested_test_split(
    fitted: tuple[FittedTransform, IngestResult], tmp_path: Path
) -> None:
    transform, result = fitted
    training = np.concatenate(
        [x for x, _ in transform.iter_features(result.dataset, "test", batch_size=100)]
    )
    table = result.dataset.to_table("test", columns=transform.input_columns)
    for served in _serving_paths(transform, table):
        _assert_identical(training, served)
    assert len(transform.feature_names) == training.shape[1] > 30
    assert np.isnan(training).any() and (training == 0).any()


_OFFSETS = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=3))]
)
_TIMES = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1))
_ROW = st.fixed_dictionaries(
    {
        "num": st.none() | st.floats(width=64),
        "mm": st.none() | st.floats(-1e6, 1e6),
        "cnt": st.none() | st.integers(-(2**63), 2**63 - 1),
        "cat": st.none() | st.sampled_from(SEEN) | st.text(max_size=12),
        "code": st.none() | st.integers(-(2**63), 2**63 - 1),
        "flag": st.none() | st.booleans(),
        "grp": st.none() | st.sampled_from(list("abcdefgh")) | st.text(max_size=3),
        "when": st.none() | _TIMES,
        "when_tz": st.none() | _TIMES.map(lambda t: t.replace(tzinfo=UTC)),
        "iso": st.none()
        | st.builds(lambda t, z: t.replace(tzinfo=z).isoformat(), _TIMES, _OFFSETS),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_ROW, max_size=25))
def test_random_rows(
    fitted: tuple[FittedTransform, IngestResult], rows: list[dict[str, Any]]
) -> None:
    transform, _ = fitted
    schema = transform.input_schema
    # when_tz is stored with millisecond precision: the rows are what the column can hold.
    for row in rows:
        if row["when_tz"] is not None:
            row["when_tz"] = row["when_tz"].replace(
                microsecond=row["when_tz"].microsecond // 1000 * 1000
            )
    table = pa.Table.from_pylist(rows, schema=schema)
    with tempfile.TemporaryDirectory() as folder:
        training = _training_path(transform, table, Path(folder))
    assert training.shape == (len(rows), len(transform.feature_names))
    for served in _serving_paths(transform, table):
        _assert_identical(training, served)
