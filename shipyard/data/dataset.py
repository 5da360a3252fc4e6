"""``Dataset``: Parquet shards per split, plus a small JSON description.

Layout of the folder (and of the stored artifact)::

    dataset.json            splits with row counts and shard files, the Arrow schema,
                            the source and how it was split
    train/part-00000.parquet
    eval/part-00000.parquet
    test/part-00000.parquet
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import ArtifactNotFoundError
from ..pipeline.materializers import Materializer

__all__ = ["Dataset", "DatasetMaterializer", "schema_to_json", "schema_from_json"]

META = "dataset.json"


def schema_to_json(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def schema_from_json(fields: list[dict[str, Any]]) -> pa.Schema:
    """The Arrow schema back from its JSON form (serialized IPC schema is kept beside it)."""
    return pa.schema(
        [pa.field(f["name"], _type(f["type"]), f.get("nullable", True)) for f in fields]
    )


def _type(text: str) -> pa.DataType:
    simple = {
        "double": pa.float64(),
        "float": pa.float32(),
        "int64": pa.int64(),
        "int32": pa.int32(),
        "int16": pa.int16(),
        "int8": pa.int8(),
        "uint8": pa.uint8(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "large_string": pa.large_string(),
        "date32[day]": pa.date32(),
        "null": pa.null(),
    }
    if text in simple:
        return simple[text]
    if text.startswith("timestamp["):
        inner = text[len("timestamp[") : -1]
        unit, _, tz = inner.partition(", tz=")
        return pa.timestamp(unit, tz or None)
    if text.startswith("decimal128("):
        p, s = text[len("decimal128(") : -1].split(",")
        return pa.decimal128(int(p), int(s))
    return pa.string()


class Dataset:
    """Shards of Parquet per split. Read it by split, in batches or whole.

    Parameters
    ----------
    path
        The folder holding ``dataset.json`` and the shards.
    meta
        The parsed ``dataset.json`` (read from ``path`` when omitted).
    """

    def __init__(self, path: Path | str, meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        if meta is None:
            meta_file = self.path / META
            if not meta_file.is_file():
                raise ArtifactNotFoundError(f"{self.path} is not a Dataset: no {META}")
            meta = json.loads(meta_file.read_text())
        self.meta = meta
        self.owned = False  # True while it is a step's scratch folder, movable into the store

    @property
    def splits(self) -> list[str]:
        # dataset.json is written with sorted keys (a stable digest); the order is kept apart.
        return list(self.meta.get("split_order") or self.meta["splits"])

    def num_rows(self, split: str | None = None) -> int:
        if split is None:
            return sum(int(s["rows"]) for s in self.meta["splits"].values())
        return int(self._split(split)["rows"])

    @property
    def schema(self) -> pa.Schema:
        """The exact Arrow schema (from its IPC form; the readable list is approximate)."""
        ipc = self.meta.get("arrow_schema")
        if ipc:
            import base64

            return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(ipc)))
        return schema_from_json(self.meta["schema"])

    def _split(self, split: str) -> dict[str, Any]:
        try:
            return dict(self.meta["splits"][split])
        except KeyError:
            raise ArtifactNotFoundError(
                f"the dataset has no split {split!r}; its splits are {self.splits}"
            ) from None

    def files(self, split: str) -> list[Path]:
        return [self.path / f for f in self._split(split)["files"]]

    def batches(
        self, split: str, *, columns: list[str] | None = None, batch_size: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Stream a split, shard by shard; memory stays at about one batch."""
        import pyarrow.parquet as pq

        for f in self.files(split):
            pf = pq.ParquetFile(f)
            yield from pf.iter_batches(batch_size=batch_size, columns=columns)

    def to_table(self, split: str, *, columns: list[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        files = self.files(split)
        if not files:
            return self.schema.empty_table()
        return pa.concat_tables(pq.read_table(f, columns=columns) for f in files)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={self.num_rows(s)}" for s in self.splits)
        return f"<Dataset {sizes} at {self.path}>"


class DatasetMaterializer(Materializer):
    """Stores a Dataset's folder as it is: Parquet shards and ``dataset.json``."""

    name = "dataset"
    types = ("shipyard.Dataset",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        ds: Dataset = value
        for split in ds.splits:
            for f in ds.files(split):
                target = folder / f.relative_to(ds.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                if ds.owned:
                    os.replace(f, target)  # a step's own scratch files: move, never copy GBs
                else:
                    shutil.copy2(f, target)
        (folder / META).write_text(json.dumps(ds.meta, indent=1, sort_keys=True, default=str))
        return {"splits": {s: ds.num_rows(s) for s in ds.splits}}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        return Dataset(folder)
