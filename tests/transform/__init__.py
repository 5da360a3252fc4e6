"""Tests of shipyard/transform; the helpers below build real Datasets from Arrow tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.data import Dataset, IngestResult, ingest
from shipyard.data.dataset import schema_to_json
from shipyard.transform import FittedTransform, fit_transform, plan_features

SPLITS = {"method": "random", "train": 0.8, "eval": 0.1, "test": 0.1}


def ingest_table(
    folder: Path,
    table: pa.Table,
    *,
    splits: dict[str, Any] | None = None,
    key: str | None = None,
    target: str | None = None,
    seed: int = 0,
) -> IngestResult:
    """``table`` written as Parquet and ingested with ``shipyard.data.ingest`` (statistics too)."""
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "data.parquet")
    out = folder / "out"
    out.mkdir()
    return ingest(
        {"path": "data.parquet"}, out, root=folder, splits=splits, key=key, target=target, seed=seed
    )


def fit_table(
    folder: Path,
    table: pa.Table,
    features: dict[str, Any] | None = None,
    *,
    target: str | None = None,
    statistics: bool = True,
    **kw: Any,
) -> FittedTransform:
    """Ingest ``table`` (one split, ``all``) and fit ``features`` on it."""
    result = ingest_table(folder, table, target=target)
    plan = plan_features(features or {}, result.dataset.schema, target=target)
    stats = result.statistics if statistics else None
    return fit_transform(plan, result.dataset, statistics=stats, **kw)


def shard_dataset(folder: Path, table: pa.Table, split: str = "test") -> Dataset:
    """A Dataset of one Parquet shard holding ``table`` (no ingest: keeps the types exactly)."""
    (folder / split).mkdir(parents=True)
    pq.write_table(table, folder / split / "part-00000.parquet")
    meta = {
        "format": 1,
        "splits": {split: {"rows": table.num_rows, "files": [f"{split}/part-00000.parquet"]}},
        "schema": schema_to_json(table.schema),
    }
    (folder / "dataset.json").write_text(json.dumps(meta))
    return Dataset(folder)
