"""The validation steps of the standard pipeline: schema, anomalies, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.dataset import Dataset
from ..pipeline.context import log_metric, scratch_dir
from ..pipeline.step import step
from .schema import Anomalies, Schema, Validator, infer_schema

__all__ = ["data_report", "infer_data_schema", "load_schema", "validate_data"]


@step
def infer_data_schema(statistics: Any, split: str = "train") -> Schema:
    """A schema inferred from one split's statistics (train by default)."""
    return infer_schema(statistics.splits[split])


@step
def load_schema(path: Path) -> Schema:
    """A pinned ``schema.yaml`` (its digest is part of the cache key)."""
    return Schema.from_yaml(Path(path))


@step
def validate_data(dataset: Dataset, schema: Schema, on_anomaly: str = "fail") -> Anomalies:
    """Check every split against the schema, shard by shard; errors stop the run.

    With ``on_anomaly="warn"`` errors are recorded and shown, and the run goes on.
    """
    found: list[Any] = []
    for split in dataset.splits:
        v = Validator(schema)
        v.check_schema(dataset.schema, where=f"split {split}")
        for i, f in enumerate(dataset.files(split)):
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(f).iter_batches(batch_size=65_536):
                v.update(batch, where=f"split {split}, shard {i}")
        found.extend(v.anomalies())
    anomalies = Anomalies(found, rows=dataset.num_rows())
    log_metric("anomaly_errors", len(anomalies.errors))
    log_metric("anomaly_warnings", len(anomalies.warnings))
    if len(anomalies):
        print(anomalies.to_text())
    if on_anomaly == "fail":
        anomalies.raise_for_errors()
    return anomalies


@step
def data_report(statistics: Any, anomalies: Anomalies | None = None, title: str = "Data") -> Path:
    """The HTML report of statistics per split, train and eval side by side, with drift."""
    from .report import write_report

    return write_report(
        scratch_dir() / "data-report.html", statistics, title=title, anomalies=anomalies
    )
