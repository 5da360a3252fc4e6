"""Monitoring of a served model: windows of its prediction log, drift reports, labels.

See ``docs/monitoring.md``. :func:`run_monitor` reports each new window of
the log (a :class:`DriftReport` artifact, a row in ``monitor_windows``, an HTML
page); :func:`import_labels` stores labels that arrive later.
"""

from __future__ import annotations

from ._labels import import_labels as import_labels
from .api import WindowResult as WindowResult
from .api import run_monitor as run_monitor
from .report import DriftReport as DriftReport
from .report import build_report as build_report

__all__ = ["DriftReport", "WindowResult", "build_report", "import_labels", "run_monitor"]
