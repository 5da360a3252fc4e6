"""Validation: streaming, mergeable statistics of datasets and the drift math between them.

``DatasetStatistics`` computes the statistics of every column in one pass over
Arrow record batches, and merges with the statistics of other shards;
``Statistics`` is the artifact (one per split). ``drift`` compares two.
"""

from . import drift as drift
from .stats import ColumnStatistics as ColumnStatistics
from .stats import DatasetStatistics as DatasetStatistics
from .stats import Statistics as Statistics
from .stats import StatisticsMaterializer as StatisticsMaterializer
from .stats import compute_statistics as compute_statistics

__all__ = [
    "ColumnStatistics",
    "DatasetStatistics",
    "Statistics",
    "StatisticsMaterializer",
    "compute_statistics",
    "drift",
]
