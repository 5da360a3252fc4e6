"""The ingest steps of the standard pipeline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ..pipeline.context import current_seed, log_metric, scratch_dir
from ..pipeline.step import step
from .dataset import Dataset
from .ingest import ingest

__all__ = ["ingest_files", "ingest_query"]


def _ingest(
    source: dict[str, Any],
    splits: dict[str, Any] | None,
    key: str | None,
    target: str | None,
    target_expr: str | None,
    as_of: str | None,
    root: str,
) -> tuple[Dataset, Any]:
    out = scratch_dir()
    result = ingest(
        source,
        out,
        root=Path(root),
        splits=splits,
        seed=current_seed(),
        key=key,
        target=target,
        target_expr=target_expr,
        as_of=datetime.fromisoformat(as_of) if as_of else None,
        progress=None,
    )
    ds = result.dataset
    ds.owned = True  # the shards move into the artifact store instead of being copied
    sizes = {s: ds.num_rows(s) for s in ds.splits}
    for split, rows in sizes.items():
        log_metric(f"rows_{split}", rows)
    print(
        f"ingested {ds.num_rows()} rows from {ds.meta['source']['description']} in"
        f" {result.seconds:.1f} s: " + ", ".join(f"{s} {n}" for s, n in sizes.items())
    )
    return ds, result.statistics


@step(packages=("duckdb", "pyarrow", "datasketches"))
def ingest_files(
    files: list[Path],
    source: dict[str, Any],
    splits: dict[str, Any] | None = None,
    key: str | None = None,
    target: str | None = None,
    target_expr: str | None = None,
    as_of: str | None = None,
    root: str = ".",
) -> tuple[Dataset, Any]:
    """Ingest files; ``files`` are listed so that their digests make the cache key."""
    return _ingest(source, splits, key, target, target_expr, as_of, root)


@step(cache=False, packages=("duckdb", "pyarrow", "datasketches", "sqlalchemy"))
def ingest_query(
    source: dict[str, Any],
    splits: dict[str, Any] | None = None,
    key: str | None = None,
    target: str | None = None,
    target_expr: str | None = None,
    as_of: str | None = None,
    root: str = ".",
) -> tuple[Dataset, Any]:
    """Ingest a database table or query; never cached, since the rows behind it may change."""
    return _ingest(source, splits, key, target, target_expr, as_of, root)
