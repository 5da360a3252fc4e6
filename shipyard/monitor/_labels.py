"""Labels that arrive after the predictions: stored immutable, joined to windows by id.

``shipyard monitor labels FILE`` copies the label file's id, label and time
columns into ``<project>/.shipyard/labels/<model>/labels-<ns>.parquet``
(written under a temporary name, renamed, made read-only). A row is joined to
a logged prediction by its request id (the ``X-Request-Id`` the server
answered, or the one the client sent), or by the bundle's key column when the
prediction log holds that column. A later file's label for the same id wins.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import ConfigError

__all__ = ["Labels", "import_labels", "labels_folder", "load_labels"]

_TIME = pa.timestamp("us", "UTC")


def labels_folder(store_dir: Path, model: str) -> Path:
    return store_dir / "labels" / model


def _read(path: Path) -> pa.Table:
    if not path.is_file():
        raise ConfigError(f"no label file at {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pq.read_table(path)
        if suffix in (".csv", ".tsv", ".txt"):
            import pyarrow.csv as pacsv

            options = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            return pacsv.read_csv(path, parse_options=options)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ConfigError(f"cannot read the label file {path}: {exc}") from None
    raise ConfigError(f"label file {path}: expected a .csv or .parquet file, got {suffix!r}")


def import_labels(
    path: str | os.PathLike[str],
    folder: Path,
    *,
    key: str | None = None,
    request_id_column: str | None = None,
    label_column: str = "label",
    time_column: str | None = None,
) -> tuple[Path, int]:
    """Store the labels of ``path`` in ``folder``; return the file written and its rows.

    Exactly one of ``key`` (the model's key column) and ``request_id_column``
    names the id column.

    Raises
    ------
    ConfigError
        The file cannot be read, a named column is missing (listing the file's
        columns), or the labels are not numbers (class indices or values).
    """
    if (key is None) == (request_id_column is None):
        raise ConfigError("give the id column: --key COLUMN or --request-id-column COLUMN")
    source = Path(path)
    table = _read(source)
    id_column = key if key is not None else request_id_column
    assert id_column is not None
    for what, column in (("id", id_column), ("label", label_column), ("time", time_column)):
        if column is not None and column not in table.column_names:
            raise ConfigError(
                f"label file {source}: no {what} column {column!r};"
                f" its columns are {table.column_names}"
            )
    label = table.column(label_column)
    if pa.types.is_boolean(label.type):
        label = label.cast(pa.int8())
    try:
        label = label.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ConfigError(
            f"label file {source}: column {label_column!r} holds {label.type} values;"
            " expected numbers (0/1, class indices 0..k-1, or values for regression)"
        ) from None
    ids = table.column(id_column).cast(pa.string())
    empty = pa.nulls(table.num_rows, pa.string())
    out = pa.table(
        {
            "request_id": empty if key is not None else ids,
            "key": ids if key is not None else empty,
            "label": label,
            "time": (
                table.column(time_column).cast(_TIME)
                if time_column is not None
                else pa.nulls(table.num_rows, _TIME)
            ),
        }
    )
    out = out.filter(pc.and_(pc.is_valid(out.column("label")), pc.is_valid(ids)))
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"labels-{time.time_ns()}"
    tmp = folder / f".{stem}.parquet.tmp"
    pq.write_table(out, tmp)
    os.chmod(tmp, 0o444)  # labels, once stored, never change
    target = folder / f"{stem}.parquet"
    os.replace(tmp, target)
    return target, out.num_rows


class Labels:
    """All stored labels of a model, ready to look up by request id or key."""

    def __init__(self, table: pa.Table, key: str | None) -> None:
        self.key = key
        self.by_request = self._index(table, "request_id")
        self.by_key = self._index(table, "key")
        self.rows = table.num_rows
        self.files = 0  # label files read: a window computed with fewer is computed again

    @staticmethod
    def _index(table: pa.Table, column: str) -> tuple[pa.Array, np.ndarray] | None:
        part = table.filter(pc.is_valid(table.column(column)))
        if not part.num_rows:
            return None
        ids = part.column(column).to_numpy(zero_copy_only=False)
        labels = part.column("label").to_numpy(zero_copy_only=False)
        # The last label of an id wins: keep the last occurrence of each id.
        reversed_ids = ids[::-1]
        _, first = np.unique(reversed_ids, return_index=True)
        keep = len(ids) - 1 - first
        return pa.array(ids[keep], pa.string()), np.asarray(labels[keep], dtype=np.float64)

    def lookup(self, table: pa.Table) -> np.ndarray | None:
        """The label of each row of ``table`` (NaN where none), or None when none can match."""
        y = np.full(table.num_rows, np.nan)
        found = False
        for index, column in ((self.by_key, self.key), (self.by_request, "request_id")):
            if index is None or column is None or column not in table.column_names:
                continue
            ids, labels = index
            pos = pc.index_in(table.column(column).cast(pa.string()), value_set=ids)
            pos_np = pos.to_numpy(zero_copy_only=False)
            hit = ~np.isnan(pos_np.astype(np.float64))
            if hit.any():
                found = True
                y[hit] = labels[pos_np[hit].astype(np.int64)]
        return y if found else None


def load_labels(folder: Path, key: str | None) -> Labels | None:
    """The labels stored for a model, or None when there are none."""
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.glob("labels-*.parquet"))
    if not files:
        return None
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    labels = Labels(table, key)
    labels.files = len(files)
    return labels
