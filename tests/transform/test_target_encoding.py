"""Target encoding: smoothed means for serving, out-of-fold means for the training rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from shipyard.data import IngestResult
from shipyard.transform import FittedTransform, fit_transform, plan_features
from shipyard.transform._steps import folds_of

from . import ingest_table


def _fit(folder: Path, table: pa.Table, **params: Any) -> tuple[FittedTransform, IngestResult]:
    seed = params.pop("seed", 0)
    result = ingest_table(folder, table, target="y")
    features = {"columns": [{"name": "cat", "transforms": [{"op": "target_encode", **params}]}]}
    plan = plan_features(features, result.dataset.schema, target="y")
    fitted = fit_transform(plan, result.dataset, statistics=result.statistics, seed=seed)
    return fitted, result


def _training_features(fitted: FittedTransform, result: IngestResult) -> np.ndarray:
    return np.concatenate(
        [x for x, _ in fitted.iter_features(result.dataset, "all", batch_size=128)]
    )[:, 0]


def test_serving_uses_smoothed_means_of_every_training_row(tmp_path: Path) -> None:
    cat = ["a"] * 10 + ["b"] * 3 + ["c"] + [None] * 2
    y = [1.0] * 7 + [0.0] * 3 + [0.0, 0.0, 1.0] + [1.0] + [0.0, 1.0]
    y_with_null = [*y[:-1], None]
    table = pa.table({"cat": cat, "y": pa.array(y_with_null, pa.float64())})
    fitted, _ = _fit(tmp_path, table, smoothing=2)
    labelled = np.array(y[:-1])
    prior = labelled.mean()  # every row with a target, its category NULL or not

    def smoothed(values: list[float]) -> float:
        return (sum(values) + 2 * prior) / (len(values) + 2)

    out = fitted.apply({"cat": ["a", "b", "c", "never seen", None]})[:, 0]
    expected = [smoothed(y[:10]), smoothed(y[10:13]), smoothed(y[13:14]), prior, np.nan]
    np.testing.assert_allclose(out, np.array(expected, dtype=np.float32), rtol=1e-6)
    assert np.isnan(out[4])
    assert fitted.feature_names == ["cat"]


def test_a_rows_own_target_never_reaches_its_training_feature(tmp_path: Path) -> None:
    n = 400
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, n).astype(float)
    table = pa.table({"cat": [f"c{i}" for i in range(n)], "y": y})  # each category in one row
    fitted, result = _fit(tmp_path / "a", table, smoothing=5, folds=5, seed=9)
    train = _training_features(fitted, result)
    folds = folds_of(np.arange(n), 9, 5)
    # A category seen in no other fold gets the other folds' mean: nothing of the row itself.
    expected = np.array([y[folds != folds[i]].mean() for i in range(n)])
    np.testing.assert_allclose(train, expected.astype(np.float32), rtol=1e-6)

    flipped = y.copy()
    flipped[7] = 1 - flipped[7]
    refitted, result2 = _fit(
        tmp_path / "b", pa.table({"cat": table["cat"], "y": flipped}), smoothing=5, folds=5, seed=9
    )
    again = _training_features(refitted, result2)
    assert again[7].tobytes() == train[7].tobytes()  # bit for bit: no rounding leaks
    same_fold = (folds == folds[7]) & (np.arange(n) != 7)
    assert again[same_fold].tobytes() == train[same_fold].tobytes()
    # Serving sees every training row, this one included.
    assert refitted.apply({"cat": ["c7"]})[0, 0] != fitted.apply({"cat": ["c7"]})[0, 0]


def test_out_of_fold_means_match_brute_force(tmp_path: Path) -> None:
    n = 2000
    rng = np.random.default_rng(4)
    cat = rng.choice([f"k{i}" for i in range(30)], n).astype(object)
    cat[rng.random(n) < 0.05] = None
    y = rng.normal(size=n) + np.array([0.0 if c is None else int(c[1:]) / 10 for c in cat])
    y_arrow = pa.array(np.where(rng.random(n) < 0.03, np.nan, y), from_pandas=True)
    table = pa.table({"cat": pa.array(cat, pa.string()), "y": y_arrow})
    fitted, result = _fit(tmp_path, table, smoothing=3, folds=4, seed=11)
    train = _training_features(fitted, result)

    y_np = np.array(y_arrow.to_pylist(), dtype=float)
    folds = folds_of(np.arange(n), 11, 4)
    labelled = ~np.isnan(y_np)
    expected = np.empty(n)
    for i in range(n):
        other = (folds != folds[i]) & labelled
        prior = y_np[other].mean()
        if cat[i] is None:
            expected[i] = np.nan
            continue
        mine = other & (cat == cat[i])
        expected[i] = (y_np[mine].sum() + 3 * prior) / (mine.sum() + 3)
    np.testing.assert_allclose(train, expected.astype(np.float32), rtol=1e-5)

    # The same through apply(..., training_rows=): row numbers in the fitted split.
    rows = result.dataset.to_table("all")
    direct = fitted.apply(rows.slice(100, 50), training_rows=np.arange(100, 150))[:, 0]
    assert direct.tobytes() == train[100:150].tobytes()
    # Rows of any other split, and serving, use the means of every training row instead.
    served = fitted.apply(rows.slice(100, 50))[:, 0]
    assert served.tobytes() != direct.tobytes()
    assert (
        list(fitted.iter_features(result.dataset, "all", out_of_fold=False))[0][0][
            100:150, 0
        ].tobytes()
        == served.tobytes()
    )
