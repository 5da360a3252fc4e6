"""fit_transform on ingested Datasets: statistics or a pass, round trips, storage, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from shipyard.data import IngestResult
from shipyard.errors import ConfigError, MaterializerError
from shipyard.transform import (
    CompiledTransform,
    FittedTransform,
    TransformMaterializer,
    apply_transform,
    fit_transform,
    plan_features,
)
from shipyard.transform._steps import Lookup

from . import SPLITS, fit_table, ingest_table

FEATURES = {
    "columns": [
        {
            "name": "x",
            "transforms": [{"op": "impute", "strategy": "median"}, {"op": "standardize"}],
        },
        {"name": "z", "transforms": [{"op": "quantile_buckets", "buckets": 8}, {"op": "onehot"}]},
        {"name": "city", "transforms": [{"op": "vocabulary", "min_frequency": 30}]},
        {"name": "user", "transforms": [{"op": "top_k", "k": 100, "oov_buckets": 4}]},
        {"name": "ts"},
    ]
}


def _table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=n)
    x[rng.random(n) < 0.05] = np.nan
    cities = np.array([f"city-{i}" for i in range(40)])
    city = cities[np.minimum(rng.geometric(0.08, n), 39)].astype(object)
    city[rng.random(n) < 0.02] = None
    return pa.table(
        {
            "id": np.arange(n),
            "x": pa.array(x, from_pandas=True),
            "z": rng.integers(0, 1000, n),
            "city": pa.array(city, pa.string()),
            "user": pa.array([f"u{i}" for i in rng.integers(0, 3000, n)]),
            "ts": pa.array(
                np.datetime64("2024-01-01T00:00:00") + rng.integers(0, 10**7, n).astype("m8[s]")
            ),
            "y": rng.random(n) < 0.3,
        }
    )


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> IngestResult:
    return ingest_table(
        tmp_path_factory.mktemp("fit"), _table(150_000), splits=SPLITS, key="id", target="y"
    )


def test_statistics_save_a_pass_and_change_nothing(ingested: IngestResult) -> None:
    result = ingested
    plan = plan_features(FEATURES, result.dataset.schema, target="y", key="id")
    with_stats = fit_transform(plan, result.dataset, statistics=result.statistics)
    without = fit_transform(plan, result.dataset)
    a, b = with_stats.to_dict(), without.to_dict()
    # x: the median from the statistics, then standardize in a pass; user has 3000 values, more
    # than the statistics count exactly: the same pass. Without statistics, one more.
    assert a["fit"]["passes"] == 1 and b["fit"]["passes"] == 2
    assert a["features"] == b["features"]
    assert a["fit"]["rows"] == result.dataset.num_rows("train")
    simple = plan_features({"columns": [{"name": "x"}, {"name": "city"}]}, result.dataset.schema)
    fast = fit_transform(simple, result.dataset, statistics=result.statistics)
    slow = fit_transform(simple, result.dataset)
    assert fast.to_dict()["fit"]["passes"] == 0 and slow.to_dict()["fit"]["passes"] == 1
    assert fast.to_dict()["features"] == slow.to_dict()["features"]


def test_vocabulary_counts_are_exact(ingested: IngestResult) -> None:
    result = ingested
    plan = plan_features(FEATURES, result.dataset.schema, target="y")
    fitted = fit_transform(plan, result.dataset, statistics=result.statistics)
    train = result.dataset.to_table("train")
    values, counts = np.unique(
        np.array(train.column("city").drop_null().to_pylist()), return_counts=True
    )
    kept = sorted(
        ((v, int(c)) for v, c in zip(values, counts, strict=True) if c >= 30),
        key=lambda p: (-p[1], p[0]),
    )
    step = fitted.to_dict()["features"][2]["steps"][0]["fitted"]
    assert list(zip(step["values"], step["counts"], strict=True)) == kept
    users = fitted.to_dict()["features"][3]["steps"][0]["fitted"]
    assert len(users["values"]) == 100
    by_count = np.unique(np.array(train.column("user").to_pylist()), return_counts=True)[1]
    assert users["counts"][0] == by_count.max()


def test_round_trips_give_identical_features(ingested: IngestResult, tmp_path: Path) -> None:
    result = ingested
    plan = plan_features(FEATURES, result.dataset.schema, target="y")
    fitted = fit_transform(plan, result.dataset, statistics=result.statistics)
    test = result.dataset.to_table("test")
    expected = fitted.apply(test)
    text = fitted.to_json()
    assert "NaN" not in text and json.loads(text) == fitted.to_dict()
    again = FittedTransform.from_dict(json.loads(text))
    assert again == fitted
    for out in (
        again.apply(test),
        apply_transform(json.loads(text), test),
        apply_transform(CompiledTransform(fitted.to_dict()), test),
        np.ascontiguousarray(fitted.apply(test, order="F")),
    ):
        assert out.tobytes() == expected.tobytes()
    # Fitting again gives the same transform, byte for byte.
    assert fit_transform(plan, result.dataset, statistics=result.statistics).to_json() == text

    materializer = TransformMaterializer()
    (tmp_path / "a").mkdir()
    properties = materializer.save(fitted, tmp_path / "a")
    assert properties == {
        "inputs": ["x", "z", "city", "user", "ts"],
        "features": len(fitted.feature_names),
    }
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["transform.json"]
    loaded = materializer.load(
        tmp_path / "a", properties, "shipyard.transform.apply.FittedTransform"
    )
    assert loaded.apply(test).tobytes() == expected.tobytes()
    (tmp_path / "b").mkdir()
    materializer.save(loaded, tmp_path / "b")
    assert (tmp_path / "a" / "transform.json").read_bytes() == (
        tmp_path / "b" / "transform.json"
    ).read_bytes()
    (tmp_path / "b" / "transform.json").write_text('{"format": 99}')
    with pytest.raises(MaterializerError, match="format 1"):
        materializer.load(tmp_path / "b", properties, "")


def test_batch_size_and_row_order_do_not_change_a_row(ingested: IngestResult) -> None:
    result = ingested
    plan = plan_features(FEATURES, result.dataset.schema)
    fitted = fit_transform(plan, result.dataset, statistics=result.statistics)
    test = result.dataset.to_table("test").slice(0, 500)
    whole = fitted.apply(test)
    rows = np.concatenate([fitted.apply(test.slice(i, 1)) for i in range(test.num_rows)])
    assert rows.tobytes() == whole.tobytes()
    order = np.random.default_rng(0).permutation(test.num_rows)
    assert fitted.apply(test.take(order)).tobytes() == whole[order].tobytes()


def test_apply_errors_name_the_column(tmp_path: Path) -> None:
    table = pa.table({"x": [1.0, 2.0], "c": ["a", "b"], "t": pa.array([0, 1], pa.timestamp("s"))})
    fitted = fit_table(tmp_path, table)
    with pytest.raises(ValueError, match=r"missing input columns \['c'\]"):
        fitted.apply({"x": [1.0], "t": [None]})
    with pytest.raises(ValueError, match="column 'x' is string and cannot be read as double"):
        fitted.apply({"x": ["high"], "c": ["a"], "t": [None]})
    with pytest.raises(ValueError, match="column 'c' has 2 values and the others 1"):
        fitted.apply({"x": [1.0], "c": ["a", "b"], "t": [None]})
    with pytest.raises(ValueError, match="one row number per row"):
        fitted.apply({"x": [1.0], "c": ["a"], "t": [None]}, training_rows=[0, 1])
    with pytest.raises(TypeError, match="got list"):
        fitted.apply([{"x": 1.0}])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a fitted transform of format 1"):
        FittedTransform.from_dict({"format": 2})
    # Types are cast to the input signature: ints for a double column, extra columns ignored.
    out = fitted.apply(
        {"x": np.array([3]), "c": pa.array(["b"]), "t": ["2024-01-01"], "extra": [1]}
    )
    assert out[0, 0] == 3.0 and out.shape == (1, len(fitted.feature_names))


def test_splits_and_clashing_names(tmp_path: Path, ingested: IngestResult) -> None:
    result = ingested
    plan = plan_features({"columns": [{"name": "x"}]}, result.dataset.schema)
    with pytest.raises(
        ConfigError, match=r"no split 'nope'; its splits: \['train', 'eval', 'test'\]"
    ):
        fit_transform(plan, result.dataset, split="nope")
    assert fit_transform(plan, result.dataset, split="eval").fit_split == "eval"
    table = pa.table({"a": ["x", "y"], "a=x": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="'a' and 'a=x' both make an output named 'a=x'") as info:
        fit_table(tmp_path, table)
    assert info.value.field == "features.columns"


def test_a_big_vocabulary_looks_up_few_rows_the_same_way() -> None:
    values = [f"v{i}" for i in range(20_000)]
    lookup = Lookup(values)
    probe = pa.array(["v3", None, "nope", "v19999", "v3"])
    assert lookup.index(probe).tolist() == [3, -1, -1, 19999, 3]  # the dict path (few rows)
    many = pa.array(["v3", None, "nope", "v19999", "v3"] * 1000)
    assert lookup.index(many).tolist() == [3, -1, -1, 19999, 3] * 1000  # Arrow's index_in


def test_stored_through_the_artifact_store(tmp_path: Path) -> None:
    from shipyard.pipeline.materializers import LAZY_BUILTINS, load_value, save_value
    from shipyard.store.artifacts import LocalArtifactStore

    if "shipyard.transform" not in LAZY_BUILTINS:
        pytest.skip("TransformMaterializer is not in LAZY_BUILTINS yet")
    fitted = fit_table(tmp_path / "d", pa.table({"x": [1.0, None], "c": ["a", "b"]}))
    store = LocalArtifactStore(tmp_path / "arts")
    info = save_value(fitted, store)
    assert info["type"] == "shipyard.transform" and not info["unsafe"]
    assert save_value(fitted, store)["digest"] == info["digest"]
    back = load_value(info["digest"], store)
    assert isinstance(back, FittedTransform) and back == fitted
