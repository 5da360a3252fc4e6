"""Statistics of the transformed features: the reference of training-serving skew.

The register step computes them on the train split (``statistics/features.json``
in the bundle) and the monitor on each window, with the same function the
server applies (:meth:`FittedTransform.apply`), so that both sides see the
features exactly as the model does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from ..validate.stats import DatasetStatistics

__all__ = ["feature_statistics", "feature_table"]


def feature_table(transform: Any, batch: pa.RecordBatch | pa.Table) -> pa.Table:
    """The model's input matrix of ``batch`` as a table of named float columns."""
    matrix = np.asarray(transform.apply(batch, order="F"))
    names = transform.feature_names
    return pa.table({n: matrix[:, i] for i, n in enumerate(names)})


def feature_statistics(
    transform: Any, batches: Iterable[pa.RecordBatch | pa.Table]
) -> DatasetStatistics:
    """Statistics of the transformed features of ``batches`` (served rows: no target encoding folds)."""
    stats = DatasetStatistics()
    for batch in batches:
        if batch.num_rows:
            stats.update(feature_table(transform, batch))
    return stats
