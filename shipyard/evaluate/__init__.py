"""Evaluation: metrics, bootstrap intervals, slices, importances, the gate and the report.

The usual path is :func:`evaluate` (metrics of the candidate and of the
production model on the same eval rows, intervals, the paired comparison,
slices, the gate's :class:`Verdict`), then :func:`write_evaluation_report`.
Every metric comes from one vectorised engine that scores many row-weight
vectors at once, which is what makes 1,000 bootstrap replicates of 100,000
rows take seconds (see :mod:`~shipyard.evaluate.bootstrap`).
"""

from ._evaluation import PAIRED_REPLICATES as PAIRED_REPLICATES
from ._evaluation import Evaluation as Evaluation
from ._evaluation import evaluate as evaluate
from ._slices import evaluate_slices as evaluate_slices
from .bootstrap import PairedDelta as PairedDelta
from .bootstrap import bootstrap as bootstrap
from .bootstrap import paired_bootstrap as paired_bootstrap
from .gate import Verdict as Verdict
from .gate import gate as gate
from .importance import gain_importance as gain_importance
from .importance import permutation_importance as permutation_importance
from .metrics import MetricInfo as MetricInfo
from .metrics import check_metrics as check_metrics
from .metrics import compute_metrics as compute_metrics
from .metrics import default_metrics as default_metrics
from .metrics import higher_is_better as higher_is_better
from .metrics import metric_names as metric_names
from .report import render_evaluation_report as render_evaluation_report
from .report import write_evaluation_report as write_evaluation_report
from .threshold import check_threshold_rule as check_threshold_rule
from .threshold import choose_threshold as choose_threshold

__all__ = [
    "PAIRED_REPLICATES",
    "Evaluation",
    "MetricInfo",
    "PairedDelta",
    "Verdict",
    "bootstrap",
    "check_metrics",
    "check_threshold_rule",
    "choose_threshold",
    "compute_metrics",
    "default_metrics",
    "evaluate",
    "evaluate_slices",
    "gain_importance",
    "gate",
    "higher_is_better",
    "metric_names",
    "paired_bootstrap",
    "permutation_importance",
    "render_evaluation_report",
    "write_evaluation_report",
]
