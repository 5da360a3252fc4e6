"""``run_monitor``: read new windows of a served model's prediction log and report each.

Each finished window (see :mod:`._windows`) is compared with the references of
the version the reference names (:mod:`.report`), its DriftReport stored as a
JSON artifact, the window recorded in ``monitor_windows`` with its metrics and
the cursor after it, and its HTML page written under
``<project>/.shipyard/monitor/<model>/``; then ``on_window`` is called.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import ConfigError
from ..refs import parse_ref
from ._labels import labels_folder, load_labels
from ._reference import Reference
from ._store import last_cursor, list_windows, store_window
from ._window import WindowStats
from ._windows import by_rows, by_time
from .report import DriftReport, build_report

__all__ = ["WindowResult", "default_ref", "log_folder", "run_monitor", "watch_versions"]

log = logging.getLogger("shipyard.monitor")
_RELABEL_WINDOWS = 200  # the newest windows whose label metrics are kept up to date
SKEW_ROWS = 100_000  # rows of a window whose transformed features are compared (about)


@dataclass
class WindowResult:
    """One reported window, as ``on_window`` and :func:`run_monitor` hand it over."""

    window_id: int
    model: str
    ref: str
    start: float
    end: float
    rows: int
    metrics: dict[str, float | None]
    report_digest: str | None
    report_html: Path | None
    drifted_features: list[str] = field(default_factory=list)
    report: DriftReport | None = None


def default_ref(project: Any) -> str:
    """``monitor.model``, else ``<register.model_name>@production``."""
    config = project.config
    if config.monitor.model:
        return str(config.monitor.model)
    name = config.register.model_name
    if not name:
        raise ConfigError(
            "which model? give NAME@ALIAS, or set monitor.model or register.model_name"
            " in shipyard.yaml",
            field="monitor.model",
        )
    return f"{name}@production"


def log_folder(project: Any) -> Path:
    """``serve.log.path``, else ``<project>/.shipyard/predictions`` (local folders only)."""
    path = project.config.serve.log.path
    if path is None:
        return Path(project.store_dir) / "predictions"
    text = str(path)
    if "://" in text and not text.startswith("file://"):
        raise ConfigError(
            f"serve.log.path {text!r}: the monitor reads a local folder", field="serve.log.path"
        )
    folder = Path(text.removeprefix("file://"))
    return folder if folder.is_absolute() else Path(project.root) / folder


def watch_versions(project: Any, ref: str) -> tuple[str, list[str], Any]:
    """The model name, the versions whose rows are read, and the version now named.

    For ``NAME@ALIAS``: every version the alias ever pointed at (its audit log);
    for ``NAME:VERSION`` that version; for ``NAME`` its latest.
    """
    from ..registry import Registry

    registry = Registry(project)
    current = registry.get(ref)
    parsed = parse_ref(ref)
    versions = {str(current.version)}
    if parsed.alias is not None:
        for move in registry.history(parsed.name, parsed.alias):
            if move.to_version is not None:
                versions.add(str(move.to_version))
    return parsed.name, sorted(versions, key=int), current


def _load_reference(project: Any, version: Any) -> Reference:
    from ..bundle import load_bundle

    bundle = load_bundle(project.artifacts.path(version.artifact))
    return Reference.from_bundle(bundle, str(version.version))


def run_monitor(
    project: Any = None,
    ref: str | None = None,
    *,
    once: bool = True,
    on_window: Callable[[WindowResult], Any] | None = None,
    every: float | None = None,
    partial: bool = False,
    now: float | None = None,
    log_dir: str | Path | None = None,
    html: bool = True,
) -> list[WindowResult]:
    """Report every finished window of ``ref``'s prediction log not reported yet.

    Parameters
    ----------
    project
        A :class:`~shipyard.pipeline.project.Project`, a folder in one, or None
        (the working directory's).
    ref
        ``NAME@ALIAS``, ``NAME:VERSION`` or ``NAME``; default :func:`default_ref`.
    once
        One pass; otherwise pass again every ``every`` seconds (default 300)
        until interrupted (Ctrl-C ends the loop cleanly and returns).
    on_window
        Called with each :class:`WindowResult` once it is stored; an exception
        it raises is logged and never stops the monitor.
    partial
        Also report the window in progress (up to now, or the rows short of a
        full window); the next window starts after it.
    now
        The time taken as now (tests); default the clock.
    log_dir
        The prediction log folder; default :func:`log_folder`.
    html
        Write the HTML pages (off in the benchmark, which times them apart).

    Returns
    -------
    list of WindowResult
        The windows reported, oldest first.
    """
    from ..pipeline.project import Project

    owned = not isinstance(project, Project)
    proj: Project = project if isinstance(project, Project) else Project.discover(project)
    try:
        results: list[WindowResult] = []
        while True:
            results += _one_pass(proj, ref, on_window, partial, now, log_dir, html)
            if once:
                return results
            try:
                time.sleep(every if every is not None else 300.0)
            except KeyboardInterrupt:
                return results
    finally:
        if owned:
            proj.close()


def _one_pass(
    project: Any,
    ref: str | None,
    on_window: Callable[[WindowResult], Any] | None,
    partial: bool,
    now: float | None,
    log_dir: str | Path | None,
    html: bool,
) -> list[WindowResult]:
    from ..evaluate.metrics import default_metrics

    ref = ref or default_ref(project)
    name, versions, current = watch_versions(project, ref)
    reference = _load_reference(project, current)
    labels = load_labels(labels_folder(Path(project.store_dir), name), reference.key)
    folder = Path(log_dir) if log_dir is not None else log_folder(project)
    columns = [*reference.inputs, *reference.outputs]
    if reference.key:
        columns.append(reference.key)
    cursor = last_cursor(project.metadata, name, ref)
    window = project.config.monitor.window

    expected = window.rows or _last_rows(project, name, ref)
    stride = max(1, expected // SKEW_ROWS)

    def new_stats() -> WindowStats:
        return WindowStats(reference, labels, skew_stride=stride)

    if window.rows is not None:
        cuts = by_rows(
            folder,
            name,
            versions,
            columns,
            rows=window.rows,
            cursor=cursor,
            partial=partial,
            new_stats=new_stats,
        )
    else:
        seconds = window.duration.total_seconds() if window.duration else 3600.0
        cuts = by_time(
            folder,
            name,
            versions,
            columns,
            seconds=seconds,
            cursor=cursor,
            now=time.time() if now is None else now,
            partial=partial,
            new_stats=new_stats,
        )
    names = default_metrics(reference.task)
    if labels is not None:
        changed = _relabel(project, name, ref, folder, versions, columns, reference, labels, names)
        if changed and html:
            from .html import write_history

            write_history(project, name, ref)
    results = []
    for cut in cuts:
        report = build_report(cut.stats, ref=ref, start=cut.start, end=cut.end, metric_names=names)
        result = _store(project, report, cut.cursor, cursor, html)
        if result is None:
            log.warning("another monitor reported %s meanwhile; this pass stops", ref)
            break
        cursor = cut.cursor
        results.append(result)
        if on_window is not None:
            try:
                on_window(result)
            except Exception:  # noqa: BLE001 - a failing hook never stops the monitor
                log.exception("on_window failed for window %d of %s", result.window_id, ref)
    return results


def _last_rows(project: Any, name: str, ref: str) -> int:
    """Rows of the newest window of ``ref`` (0 if none): the size expected of the next."""
    last = list_windows(project.metadata, name, ref, limit=1)
    return int(last[0]["rows"]) if last else 0


def _relabel(
    project: Any,
    name: str,
    ref: str,
    folder: Path,
    versions: list[str],
    columns: list[str],
    reference: Reference,
    labels: Any,
    names: list[str],
) -> int:
    """Compute again the label metrics of stored windows that saw fewer label files; how many.

    A window's rows are read again by their time range (``start`` to ``end``;
    for windows by rows, the times of their first and last row).
    """
    from ._reader import iter_tables, list_files
    from ._store import update_metrics
    from .report import label_metrics

    changed = 0
    for window in list_windows(project.metadata, name, ref, limit=_RELABEL_WINDOWS):
        if window["metrics"].get("label_files", 0) >= labels.files or not window["rows"]:
            continue
        start, end = float(window["start"]), float(window["end"])
        by_rows = "ns" in window["cursor"]
        stats = WindowStats(reference, labels, labels_only=True)
        for _, table in iter_tables(
            list_files(folder, after_ns=int(start * 1e9)), name, versions, columns
        ):
            t = table.column("time").cast(pa.int64()).to_numpy(zero_copy_only=False) / 1e6
            keep = (t >= start) & ((t <= end) if by_rows else (t < end))
            if keep.any():
                stats.update(table.filter(pa.array(keep)))
        metrics = {**window["metrics"], **label_metrics(stats, names)}
        update_metrics(project.metadata, int(window["id"]), _clean_metrics(metrics))
        changed += 1
    return changed


def _clean_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if _finite(v) else None) for k, v in metrics.items()}


def _store(
    project: Any, report: DriftReport, cursor: dict[str, Any], previous: dict[str, Any], html: bool
) -> WindowResult | None:
    from ..pipeline.materializers import save_value

    info = save_value(report.to_dict(), project.artifacts)
    window_id = store_window(
        project.metadata,
        model=report.model,
        ref=report.ref,
        versions=sorted(report.versions, key=lambda v: (len(v), v)),
        start=report.start,
        end=report.end,
        rows=report.rows,
        metrics=report.metrics,
        cursor=cursor,
        previous=previous,
        artifact=info,
    )
    if window_id is None:
        return None
    page = None
    if html:
        from .html import write_reports

        page = write_reports(project, report, window_id)
    return WindowResult(
        window_id=window_id,
        model=report.model,
        ref=report.ref,
        start=report.start,
        end=report.end,
        rows=report.rows,
        metrics=dict(report.metrics),
        report_digest=str(info["digest"]),
        report_html=page,
        drifted_features=report.drifted_features,
        report=report,
    )


def status_rows(project: Any, ref: str) -> list[dict[str, Any]]:
    """The stored windows of ``ref``, oldest first, for ``shipyard monitor status``."""
    name = parse_ref(ref).name
    return list_windows(project.metadata, name, ref)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
