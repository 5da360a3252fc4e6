"""An HTML report of an evaluation: one self-contained file to open and look at.

:func:`render_evaluation_report` turns an :class:`~shipyard.evaluate.Evaluation`
into a static page: the gate's verdict and its reasons at the top, the
metrics with their bootstrap intervals (candidate and production side by
side, and their paired difference), the plots of the task (ROC, precision-
recall and calibration for binary; the confusion matrix for multiclass;
predicted against actual and residuals for regression), the slice table, and
the feature importances. :func:`write_evaluation_report` writes it atomically.

Like the data report (``shipyard/validate/report.py``, whose look it shares),
the page needs no network and no JavaScript: CSS is inline, plots are PNG
``data:`` URIs, every string that comes from data or config is HTML-escaped,
and the Content-Security-Policy forbids scripts and remote content.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._html import page, write_atomic
from . import _plots
from ._evaluation import Evaluation
from .metrics import MetricInfo, metric_info

__all__ = ["render_evaluation_report", "write_evaluation_report"]

_CELL_CHARS = 60


def render_evaluation_report(
    evaluation: Evaluation,
    *,
    title: str = "Evaluation",
    meta: Mapping[str, Any] | None = None,
) -> str:
    """Render an evaluation as one self-contained HTML page.

    Parameters
    ----------
    evaluation
        What :func:`~shipyard.evaluate.evaluate` returned (or
        :meth:`Evaluation.from_dict` read back): the page needs nothing else.
    title
        The page's heading.
    meta
        Shown under the title as ``key: value`` (model, run, data, date, ...).

    Returns
    -------
    str
        The HTML text. Equal inputs give equal text (no clock, no random ids).
    """
    parts = [
        _header(evaluation, title, meta),
        _verdict_section(evaluation),
        _metrics_section(evaluation),
        _plots_section(evaluation),
        _slices_section(evaluation),
        _importances_section(evaluation),
    ]
    return _page(title, "\n".join(p for p in parts if p))


def write_evaluation_report(
    path: str | os.PathLike[str],
    evaluation: Evaluation,
    *,
    title: str = "Evaluation",
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Render the report (see :func:`render_evaluation_report`) and write it to ``path`` atomically.

    The page is written to a temporary file next to ``path`` and renamed over
    it, so a reader never sees half a report and a crash leaves the old one.

    Returns
    -------
    Path
        ``path``.
    """
    text = render_evaluation_report(evaluation, title=title, meta=meta)
    return write_atomic(path, text)


# -- page parts --------------------------------------------------------------------------------


def _header(ev: Evaluation, title: str, meta: Mapping[str, Any] | None) -> str:
    items = "".join(
        f"<dt>{_e(str(k))}</dt><dd>{_e(_cut(str(v), 200))}</dd>" for k, v in (meta or {}).items()
    )
    chips = [f"<b>{_e(ev.task)}</b>", f"{ev.rows:,} eval rows"]
    if ev.threshold is not None:
        chips.append(f"threshold {_num(ev.threshold)}")
    if ev.intervals:
        chips.append("95% bootstrap intervals")
    if ev.production is not None:
        chips.append("compared with production")
    if ev.verdict is not None:
        state = "blessed" if ev.verdict.blessed else "rejected"
        chips.insert(0, f'<span class="badge {state}">{state}</span>')
    links = [
        '<a href="#verdict">Verdict</a>' if ev.verdict is not None else "",
        '<a href="#metrics">Metrics</a>',
        '<a href="#plots">Plots</a>' if ev.curves else "",
        '<a href="#slices">Slices</a>' if ev.slices else "",
        '<a href="#importances">Importances</a>' if ev.importances else "",
    ]
    return (
        f"<header><h1>{_e(title)}</h1>"
        + (f'<dl class="meta">{items}</dl>' if items else "")
        + '<div class="chips">'
        + "".join(f'<span class="chip">{c}</span>' for c in chips)
        + f"</div><nav>{' · '.join(link for link in links if link)}</nav></header>"
    )


def _verdict_section(ev: Evaluation) -> str:
    verdict = ev.verdict
    if verdict is None:
        return ""
    state = "blessed" if verdict.blessed else "rejected"
    lead = (
        "The candidate passed every check of the gate and may be registered."
        if verdict.blessed
        else "The candidate failed the gate: it is kept with its run but not registered."
    )
    reasons = "".join(f"<li>{_e(r)}</li>" for r in verdict.reasons)
    rows = []
    for check in verdict.checks:
        outcome = "skipped" if check.get("skipped") else "passed" if check["passed"] else "failed"
        kind = {"threshold": "threshold", "probe": "behavioural probe"}.get(
            check["check"], "no significant regression"
        )
        rows.append(
            f'<tr class="{outcome}"><td>{_e(kind)}</td><td class="name">{_e(str(check.get("metric") or "–"))}</td>'
            f'<td><span class="badge {outcome}">{outcome}</span></td><td>{_e(str(check["message"]))}</td></tr>'
        )
    table = (
        "<table><thead><tr><th>check</th><th>metric</th><th>outcome</th><th>detail</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else ""
    )
    return (
        f'<section id="verdict" class="verdict {state}"><h2>Verdict: {state}</h2>'
        f'<p class="lead">{lead}</p><ul class="reasons">{reasons}</ul>{table}</section>'
    )


def _metrics_section(ev: Evaluation) -> str:
    prod = ev.production
    comparison = ev.comparison or {}
    head = [
        '<th>metric</th><th title="which way is better">better</th><th class="num">candidate</th>'
    ]
    if ev.intervals:
        head.append('<th class="num">95% interval</th>')
    if prod is not None:
        head.append('<th class="num">production</th>')
        if ev.production_intervals:
            head.append('<th class="num">95% interval</th>')
        head.append('<th class="num" title="positive: the candidate is better">improvement</th>')
    body = []
    for name, value in ev.metrics.items():
        info = _info(ev.task, name)
        higher = info.higher_is_better if info else True
        cells = [
            f'<td class="name" title="{_e(info.description if info else "")}">{_e(info.label if info else name)}</td>',
            f'<td class="dim">{"↑ higher" if higher else "↓ lower"}</td>',
            f'<td class="num"><b>{_num(value)}</b></td>',
        ]
        if ev.intervals:
            cells.append(f'<td class="num dim">{_interval(ev.intervals.get(name))}</td>')
        if prod is not None:
            cells.append(f'<td class="num">{_num(prod.get(name, math.nan))}</td>')
            if ev.production_intervals:
                cells.append(
                    f'<td class="num dim">{_interval(ev.production_intervals.get(name))}</td>'
                )
            cells.append(_improvement(name, value, prod.get(name, math.nan), higher, comparison))
        body.append(f"<tr>{''.join(cells)}</tr>")
    note = (
        '<p class="note">Improvement is signed so that positive means the candidate is better '
        "(for a loss: production − candidate). The primary metric's improvement comes with the "
        f"{_pct(comparison.get('level', 0.95))} interval of a paired bootstrap over the same "
        f"resampled rows ({int(comparison.get('replicates', 0)):,} replicates).</p>"
        if prod is not None and comparison
        else ""
    )
    return (
        '<section id="metrics"><h2>Metrics</h2>'
        f'<div class="scroll"><table><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{note}</section>"
    )


def _improvement(
    name: str, cand: float, prod: float, higher: bool, comparison: Mapping[str, Any]
) -> str:
    if comparison.get("metric") == name:
        delta, low, high = comparison["delta"], comparison["low"], comparison["high"]
        css = "good" if low > 0 else "bad" if high < 0 else ""
        return (
            f'<td class="num {css}"><b>{_signed(delta)}</b> '
            f'<span class="dim">[{_signed(low)}, {_signed(high)}]</span></td>'
        )
    delta = (cand - prod) if higher else (prod - cand)
    return f'<td class="num">{_signed(delta)}</td>'


def _plots_section(ev: Evaluation) -> str:
    cand = ev.curves.get("candidate")
    if not cand:
        return ""
    models = {name: ev.curves[name] for name in ("candidate", "production") if ev.curves.get(name)}
    figures: list[tuple[str, _plots.Png, str]] = []
    extra = ""
    if ev.task == "binary":
        aucs = _named("roc_auc", ev)
        aps = _named("pr_auc", ev)
        figures = [
            (
                "ROC curve",
                _plots.roc(models, aucs),
                "True against false positive rate over all thresholds.",
            ),
            (
                "Precision–recall",
                _plots.precision_recall(models, aps),
                "The dotted line is the positive rate: a random model's precision.",
            ),
            (
                "Calibration",
                _plots.calibration(models),
                "Observed positive rate per bin of predicted probability; on the diagonal is calibrated.",
            ),
        ]
        extra = _binary_confusion(cand)
    elif ev.task == "multiclass":
        figures = [
            (
                "Confusion matrix (candidate)",
                _plots.confusion(cand),
                "Rows are true classes, shaded by the share of the row predicted as each class.",
            )
        ]
    else:
        figures = [
            (
                "Predicted vs actual (candidate)",
                _plots.predicted_vs_actual(cand),
                "On the diagonal is exact.",
            ),
            (
                "Residuals vs predicted (candidate)",
                _plots.residuals(cand),
                "A pattern (a slope, a funnel) is error the model could still explain.",
            ),
        ]
    shown = "".join(
        f'<figure class="plot"><figcaption>{_e(caption)}</figcaption>'
        f'<img alt="{_e(caption)}" width="{w}" height="{h}" src="data:image/png;base64,{png}">'
        f'<p class="note">{_e(note)}</p></figure>'
        for caption, (png, w, h), note in figures
    )
    return f'<section id="plots"><h2>Plots</h2><div class="row">{shown}</div>{extra}</section>'


def _binary_confusion(data: Mapping[str, Any]) -> str:
    (tn, fp), (fn, tp) = data["confusion"]
    return (
        f"<h3>Labels at threshold {_num(float(data['threshold']))} (candidate)</h3>"
        '<table class="confusion"><thead><tr><th></th><th class="num">predicted 0</th>'
        '<th class="num">predicted 1</th></tr></thead><tbody>'
        f'<tr><th>true 0</th><td class="num">{tn:,.0f}</td><td class="num">{fp:,.0f}</td></tr>'
        f'<tr><th>true 1</th><td class="num">{fn:,.0f}</td><td class="num">{tp:,.0f}</td></tr>'
        "</tbody></table>"
    )


def _slices_section(ev: Evaluation) -> str:
    if not ev.slices:
        return ""
    names = list(ev.metrics)
    head = "".join(f'<th class="num">{_e(_label(ev.task, n))}</th>' for n in names)
    body = []
    previous = None
    for s in ev.slices:
        column = str(s["column"])
        first = column != previous
        previous = column
        metrics = s.get("metrics") or {}
        if metrics:
            cells = "".join(_slice_cell(ev, n, metrics.get(n, math.nan)) for n in names)
        else:
            cells = f'<td class="dim" colspan="{len(names)}">{_e(str(s.get("note") or ""))}</td>'
        body.append(
            f'<tr class="{"first" if first else ""}"><td class="name">{_e(_cut(column, _CELL_CHARS)) if first else ""}</td>'
            f"<td><code>{_e(_cut(str(s['value']), _CELL_CHARS))}</code></td>"
            f'<td class="num">{int(s["rows"]):,}</td><td class="num dim">{_pct(float(s.get("share", 0)))}</td>'
            f"{cells}</tr>"
        )
    overall = "".join(f'<td class="num"><b>{_num(ev.metrics[n])}</b></td>' for n in names)
    note = (
        " A value is marked when it lies outside the overall 95% interval on the worse side."
        if ev.intervals
        else ""
    )
    return (
        '<section id="slices"><h2>Slices</h2>'
        f'<p class="note">The candidate\'s metrics per value (or quantile bin) of each slice column.{note}</p>'
        '<div class="scroll"><table><thead><tr><th>column</th><th>value</th><th class="num">rows</th>'
        f'<th class="num">share</th>{head}</tr></thead><tbody>'
        f'<tr class="overall"><td class="name">all rows</td><td></td><td class="num">{ev.rows:,}</td>'
        f'<td class="num dim">100%</td>{overall}</tr>{"".join(body)}</tbody></table></div></section>'
    )


def _slice_cell(ev: Evaluation, name: str, value: float) -> str:
    interval = ev.intervals.get(name)
    info = _info(ev.task, name)
    worse = False
    if interval is not None and info is not None and math.isfinite(value):
        low, high = interval
        worse = value < low if info.higher_is_better else value > high
    return f'<td class="num{" flag" if worse else ""}">{_num(value)}</td>'


def _importances_section(ev: Evaluation) -> str:
    if not ev.importances:
        return ""
    captions = {
        "gain": "Gain: the model's own record of how much each feature's splits gained (shares of the total).",
        "permutation": "Permutation: how much the primary metric worsens when the feature is shuffled "
        "(mean ± std over repeats); near 0 means the model does not need it.",
    }
    figures = []
    for kind, values in ev.importances.items():
        if not values:
            continue
        png, w, h = _plots.importances(values)
        caption = captions.get(str(kind), str(kind))
        figures.append(
            f'<figure class="plot"><figcaption>{_e(str(kind))}</figcaption>'
            f'<img alt="{_e(str(kind))} importances" width="{w}" height="{h}" src="data:image/png;base64,{png}">'
            f'<p class="note">{_e(caption)}</p></figure>'
        )
    return f'<section id="importances"><h2>Feature importances</h2><div class="row">{"".join(figures)}</div></section>'


# -- values as text ----------------------------------------------------------------------------


def _info(task: str, name: str) -> MetricInfo | None:
    try:
        return metric_info(task, name)
    except (KeyError, ValueError):
        return None


def _label(task: str, name: str) -> str:
    info = _info(task, name)
    return info.label if info else name


def _named(metric: str, ev: Evaluation) -> dict[str, float]:
    out = {}
    if metric in ev.metrics:
        out["candidate"] = ev.metrics[metric]
    if ev.production is not None and metric in ev.production:
        out["production"] = ev.production[metric]
    return out


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _num(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    if abs(x) < 10:
        return f"{x:.4f}"
    if abs(x) < 1e6:
        return f"{x:,.2f}"
    return f"{x:.4g}"


def _signed(x: float) -> str:
    text = _num(x)
    return text if text == "–" or text.startswith("-") else "+" + text


def _interval(pair: Sequence[float] | None) -> str:
    if pair is None:
        return "–"
    return f"[{_num(pair[0])}, {_num(pair[1])}]"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.01 or x == 0 else "<1%"


# -- the page ----------------------------------------------------------------------------------

# The look of the data report (shipyard/validate/report.py), plus the verdict's colours.
_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:20px 24px 60px}
header{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin-bottom:16px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:18px;margin:0 0 10px;padding-bottom:4px;border-bottom:1px solid #d0d7de}
h3{font-size:15px;margin:14px 0 6px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:14px 20px;margin-bottom:16px}
section.verdict.blessed{border-left:6px solid #1a7f37}
section.verdict.rejected{border-left:6px solid #cf222e}
.lead{font-size:15px;font-weight:600;margin:4px 0}
ul.reasons{margin:6px 0 12px;padding-left:20px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0 10px;color:#57606a}
dl.meta dt{font-weight:600}dl.meta dd{margin:0;overflow-wrap:anywhere}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0}
.chip{background:#eaeef2;border-radius:12px;padding:2px 10px;font-variant-numeric:tabular-nums}
nav{margin-top:6px}nav a,a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #eaeef2}
thead th{background:#f6f8fa;font-weight:600;border-bottom:1px solid #d0d7de;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
td.name{font-weight:600;overflow-wrap:break-word;max-width:260px}
tr.first td{border-top:1px solid #d0d7de}
tr.overall td{background:#f6f8fa}
.scroll{overflow-x:auto}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;padding:0 3px;border-radius:3px}
.dim{color:#8c959f;font-weight:400}
.note{color:#57606a;font-size:13px;margin:4px 0 10px}
.good{color:#1a7f37}.bad{color:#cf222e}
td.flag{color:#cf222e;font-weight:700}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;line-height:18px}
.badge.rejected,.badge.failed{background:#ffebe9;color:#cf222e;border:1px solid #ff818266}
.badge.blessed,.badge.passed{background:#dafbe1;color:#1a7f37;border:1px solid #4ac26b66}
.badge.skipped{background:#f6f8fa;color:#57606a;border:1px solid #d0d7de}
tr.failed td{background:#fff5f5}
.row{display:flex;flex-wrap:wrap;gap:12px 24px;align-items:flex-start}
figure.plot{margin:0;max-width:100%}
figure.plot figcaption{font-weight:600;font-size:14px;margin-bottom:4px}
figure.plot img{display:block;max-width:100%;height:auto}
figure.plot .note{max-width:420px}
table.confusion th{font-weight:600}
footer{color:#8c959f;font-size:12px;text-align:center}
"""


def _page(title: str, body: str) -> str:
    return page(title, body, _CSS)
