"""HTML pages of the monitor: one per window, and ``report.html`` over every window of a model.

Rendering reads only stored data (a :class:`~.report.DriftReport`, the
windows' metrics), so it is timed and run apart from the statistics. Pages
are self-contained (``shipyard/_html.py``): inline CSS, PNG data URIs, no
script; every string from data is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._html import page, write_atomic
from ..evaluate._plots import Png
from ..evaluate.report import _CSS
from ..validate.drift import PSI_THRESHOLD
from . import _plots
from .report import DriftReport

__all__ = ["render_history", "render_window", "write_reports"]

_TOP_LINES = 8


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(x: Any) -> str:
    if x is None:
        return '<span class="dim">–</span>'
    if isinstance(x, bool):
        return "yes" if x else ""
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:.4g}"


def _img(png: Png, caption: str) -> str:
    data, w, h = png
    return (
        f'<figure class="plot"><figcaption>{_e(caption)}</figcaption>'
        f'<img alt="{_e(caption)}" width="{w}" height="{h}" src="data:image/png;base64,{data}">'
        "</figure>"
    )


def _table(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str:
    head = "".join(
        f'<th class="num">{_e(k)}</th>' if k != "column" else "<th>column</th>" for k in keys
    )
    body = []
    for r in rows:
        cells = []
        for k in keys:
            v = r.get(k)
            if k == "column":
                cells.append(f'<td class="name">{_e(v)}</td>')
            elif k == "drifted":
                cells.append(f'<td class="flag">{"drifted" if v else ""}</td>')
            else:
                cells.append(f'<td class="num">{_num(v)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


_HEALTH = (
    "rows",
    "served_rows",
    "drifted_features",
    "prediction_psi",
    "schema_violation_rate",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
)


def render_window(report: DriftReport, window_id: int | None = None) -> str:
    """The page of one window."""
    title = f"Monitor: {report.model} window {window_id if window_id is not None else ''}".strip()
    m = report.metrics
    chips = "".join(
        f'<span class="chip">{_e(k)}: {_num(m.get(k))}</span>' for k in _HEALTH if k in m
    )
    parts = [
        f'<header><h1>{_e(title)}</h1><dl class="meta">'
        f"<dt>reference</dt><dd>{_e(report.ref)} (version {_e(report.version)})</dd>"
        f"<dt>window</dt><dd>{_e(_when(report.start))} – {_e(_when(report.end))}</dd>"
        f"<dt>versions seen</dt><dd>{_e(report.versions or '–')}</dd></dl>"
        f'<div class="chips">{chips}</div>'
        + "".join(f'<p class="note">{_e(n)}</p>' for n in report.notes)
        + '<nav><a href="report.html">all windows</a></nav></header>'
    ]
    drifted = report.drifted_features
    if drifted:
        figs = [
            _img(_plots.histogram(f, report.histograms[f]), f"{f}: training vs window")
            for f in drifted
            if f in report.histograms
        ]
        parts.append(
            f"<section><h2>Drifting features ({len(drifted)})</h2>"
            f'<p class="note">PSI above {PSI_THRESHOLD} against the training split.</p>'
            f'<div class="row">{"".join(figs)}</div></section>'
        )
    if report.features:
        keys = [
            "column",
            "psi",
            "ks",
            "js_divergence",
            "p_value",
            "new_category_rate",
            "null_fraction_cur",
            "drifted",
        ]
        rows = sorted(report.features, key=lambda r: -(r.get("psi") or 0.0))
        parts.append(f"<section><h2>Feature drift</h2>{_table(rows, keys)}</section>")
    if report.predictions:
        keys = ["column", "psi", "ks", "js_divergence", "p_value", "drifted"]
        parts.append(
            '<section><h2>Prediction drift</h2><p class="note">Against the model\'s predictions'
            f" on the eval split.</p>{_table(report.predictions, keys)}</section>"
        )
    if report.skew:
        rows = sorted(report.skew, key=lambda r: -(r.get("psi") or 0.0))
        parts.append(
            '<section><h2>Training-serving skew</h2><p class="note">Transformed features (the'
            " model's input) against the transformed train split.</p>"
            f"{_table(rows, ['column', 'psi', 'ks', 'js_divergence', 'drifted'])}</section>"
        )
    if report.labels:
        metrics = report.labels.get("metrics", {})
        chips = "".join(f'<span class="chip">{_e(k)}: {_num(v)}</span>' for k, v in metrics.items())
        parts.append(
            f'<section><h2>Label metrics</h2><p class="note">{report.labels.get("rows", 0):,}'
            f' rows with a label.</p><div class="chips">{chips}</div></section>'
        )
    return page(title, "\n".join(parts), _CSS)


def render_history(model: str, windows: Sequence[Mapping[str, Any]]) -> str:
    """``report.html``: drift per feature, predictions and label metrics over the windows."""
    title = f"Monitor: {model}"
    parts = [f'<header><h1>{_e(title)}</h1><p class="note">{len(windows)} windows.</p></header>']
    shown = [w for w in windows if w.get("rows")]
    starts = [float(w["start"]) for w in shown]
    metrics = [w["metrics"] for w in shown]
    if shown:
        psi_names = sorted({k for m in metrics for k in m if k.startswith("psi:")})
        peak = {k: max((m.get(k) or 0.0) for m in metrics) for k in psi_names}
        top = sorted(psi_names, key=lambda k: -peak[k])[:_TOP_LINES]
        if top:
            series = {k.removeprefix("psi:"): [m.get(k) for m in metrics] for k in top}
            parts.append(
                "<section><h2>Drift per feature over time</h2>"
                + _img(
                    _plots.over_time(series, starts, "PSI", guide=PSI_THRESHOLD),
                    f"PSI of the {len(top)} most drifting features",
                )
                + "</section>"
            )
        if any(m.get("prediction_p50") is not None for m in metrics):
            parts.append(
                "<section><h2>Predictions over time</h2>"
                + _img(_plots.prediction_band(metrics, starts), "prediction per window")
                + "</section>"
            )
        from ..evaluate.metrics import METRICS

        known = {info.name for infos in METRICS.values() for info in infos}
        label_names = sorted({k for m in metrics if m.get("label_rows") for k in m} & known)
        if label_names:
            series = {k: [m.get(k) for m in metrics] for k in label_names}
            parts.append(
                "<section><h2>Label metrics over time</h2>"
                + _img(_plots.over_time(series, starts, "metric"), "metrics of labelled rows")
                + "</section>"
            )
    rows = []
    for w in windows:
        m = w["metrics"]
        rows.append(
            f'<tr><td><a href="window-{int(w["id"])}.html">{int(w["id"])}</a></td>'
            f"<td>{_e(_when(float(w['start'])))}</td><td>{_e(_when(float(w['end'])))}</td>"
            f'<td class="num">{_num(int(w["rows"]))}</td>'
            f'<td class="num">{_num(m.get("drifted_features"))}</td>'
            f'<td class="num">{_num(m.get("prediction_psi"))}</td>'
            f'<td class="num">{_num(m.get("error_rate"))}</td>'
            f'<td class="num">{_num(m.get("latency_p99_ms"))}</td></tr>'
        )
    parts.append(
        '<section><h2>Windows</h2><div class="scroll"><table><thead><tr><th>window</th>'
        '<th>start</th><th>end</th><th class="num">rows</th><th class="num">drifted</th>'
        '<th class="num">prediction PSI</th><th class="num">error rate</th>'
        '<th class="num">p99 ms</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></div></section>"
    )
    return page(title, "\n".join(parts), _CSS)


def report_folder(project: Any, model: str) -> Path:
    return Path(project.store_dir) / "monitor" / model


def write_reports(project: Any, report: DriftReport, window_id: int) -> Path:
    """Write the window's page and refresh ``report.html``; return the window's page."""
    folder = report_folder(project, report.model)
    folder.mkdir(parents=True, exist_ok=True)
    path = write_atomic(folder / f"window-{window_id}.html", render_window(report, window_id))
    write_history(project, report.model, report.ref)
    return path


def write_history(project: Any, model: str, ref: str) -> Path:
    """Write ``report.html`` of ``ref``'s windows (again, after labels changed their metrics)."""
    from ._store import list_windows

    folder = report_folder(project, model)
    folder.mkdir(parents=True, exist_ok=True)
    windows = list_windows(project.metadata, model, ref)
    return write_atomic(folder / "report.html", render_history(model, windows))
