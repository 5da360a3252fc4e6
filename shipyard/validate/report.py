"""An HTML report of dataset statistics: one self-contained file to open and look at.

:func:`render_report` turns :class:`~shipyard.validate.stats.Statistics` into a
static page: row counts per split, the anomalies of a validation, a summary
table per split, a drift table between two splits (most drifted first), and a
section per feature with one plot of the two splits side by side and the drift
metrics between them. :func:`write_report` writes it to a file atomically.

The page needs no network and no JavaScript: CSS is inline and plots are PNG
images drawn by matplotlib's Agg canvas and embedded as ``data:`` URIs, so the
file can be mailed, attached to a run or opened from an artifact store.
Every string that comes from data (column names, values, split names, anomaly
messages, meta) is HTML-escaped, and the page forbids scripts and remote
content in its Content-Security-Policy.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._html import page, write_atomic
from .drift import JS_THRESHOLD, KS_THRESHOLD, P_VALUE_THRESHOLD, PSI_THRESHOLD, compare
from .stats import ColumnStatistics, DatasetStatistics, Statistics

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["MAX_FEATURES", "NEW_CATEGORY_THRESHOLD", "render_report", "write_report"]

F64 = npt.NDArray[np.float64]

MAX_FEATURES = 100
"""Features plotted at most; the summary tables still list every column."""

NEW_CATEGORY_THRESHOLD = 0.05
"""Share of the compared split's values in categories the reference never saw, flagged above."""


@dataclass(frozen=True)
class _Metric:
    key: str  # as compare() names it
    label: str
    limit: float | None = None
    lower_is_drift: bool = False  # a p-value flags when small
    soft: bool = False  # flags amber and leaves the column's status alone


# The drift metrics shown, in order. JS is shown as a distance (the square root of
# compare()'s divergence), the scale its threshold is stated on. A p-value of a
# large sample is tiny for any shift at all, so it never makes a column "drift".
_METRICS = (
    _Metric("psi", "PSI", PSI_THRESHOLD),
    _Metric("ks", "KS", KS_THRESHOLD),
    _Metric("js", "JS distance", JS_THRESHOLD),
    _Metric("chi_squared", "χ²"),
    _Metric("p_value", "χ² p-value", P_VALUE_THRESHOLD, lower_is_drift=True, soft=True),
    _Metric("new_category_rate", "new categories", NEW_CATEGORY_THRESHOLD),
)
_PSI_WATCH = 0.1  # PSI from 0.1 to 0.2 is a moderate shift: "watch"
_TOP_PLOTTED = 12  # categories per plot: more do not read at this size
_TOP_LISTED = 3  # top values in a summary table cell
_TOP_LOOKUP = 1024  # values looked up for a plot: stats' frequency summary holds 1024
_EXACT_DISTINCT = 1024  # distinct counts are exact up to this (stats' frequency summary)
_LABEL_CHARS = 28  # category labels in plots are cut to this
_CELL_CHARS = 40  # and values in table cells to this
_SHORT_CHARS = 20  # and string values in the summary's narrow columns to this
_DPI = 200  # pixels per inch of the PNGs: twice the 100 of the page, for sharp text
_BINS = 20  # histogram bins shown
_TAIL_Q = (0.005, 0.995)  # a plot's x range when outliers would squash it
_REF_COLOR, _CUR_COLOR = "#4C72B0", "#DD8452"


# -- public API --------------------------------------------------------------------------


def render_report(
    stats: Statistics,
    *,
    title: str,
    anomalies: Any | None = None,
    reference_split: str = "train",
    compare_split: str | None = "eval",
    meta: Mapping[str, Any] | None = None,
    max_features: int = MAX_FEATURES,
    drift: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """Render statistics as one self-contained HTML page.

    Parameters
    ----------
    stats
        Statistics per split.
    title
        The page's heading.
    anomalies
        What a validation found (:class:`~shipyard.validate.schema.Anomalies`,
        or anything with ``errors`` and ``warnings`` lists of anomalies); None
        leaves the section out.
    reference_split
        The split the others are compared with.
    compare_split
        The split plotted next to the reference and checked for drift; None
        for no comparison. Ignored when ``stats`` has a single split.
    meta
        Shown under the title as ``key: value`` (run, source, date, ...).
    max_features
        Features plotted at most (the most drifted first); the summary tables
        list every column, and the page says when plots were left out.
    drift
        Drift metrics per column as :func:`shipyard.validate.drift.compare`
        returns them; computed from the two splits when None.

    Returns
    -------
    str
        The HTML text. Equal inputs give equal text (no clock, no random ids).

    Raises
    ------
    ValueError
        When ``stats`` has no split, when a named split is not in it (the
        message lists the splits there are), or when ``max_features`` < 0.
    """
    if max_features < 0:
        raise ValueError(f"max_features must be >= 0; got {max_features!r}")
    splits = dict(stats.splits)
    if not splits:
        raise ValueError("stats has no split to report; expected at least one")
    ref_name, cur_name = _pick_splits(splits, reference_split, compare_split)
    ref = splits[ref_name]
    cur = splits[cur_name] if cur_name is not None else None
    names = _column_names(ref, cur)
    if cur is not None and drift is None:
        drift = compare(ref, cur)
    rows = {str(d["column"]): _DriftRow.of(d) for d in drift or ()} if cur is not None else {}

    ranked = sorted(names, key=lambda n: rows[n].rank if n in rows else (99, 0.0))
    plotted = set(ranked[:max_features])
    features = [
        _feature_section(i, name, ref_name, ref, cur_name, cur, rows.get(name))
        for i, name in enumerate(names)
        if name in plotted
    ]
    ids = {name: i for i, name in enumerate(names)}
    parts = [
        _header(title, splits, ref_name, cur_name, meta, anomalies is not None),
        _anomalies_section(anomalies) if anomalies is not None else "",
        _drift_section(ref_name, cur_name, names, rows, ids, plotted) if cur_name else "",
        _summary_section(splits, ids, plotted),
        '<section id="features"><h2>Features</h2>',
        _cap_note(len(names), len(plotted), cur is not None),
        *features,
        "</section>",
    ]
    return _page(title, "\n".join(p for p in parts if p))


def write_report(
    path: str | os.PathLike[str],
    stats: Statistics,
    *,
    title: str,
    anomalies: Any | None = None,
    reference_split: str = "train",
    compare_split: str | None = "eval",
    meta: Mapping[str, Any] | None = None,
    max_features: int = MAX_FEATURES,
    drift: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Render the report (see :func:`render_report`) and write it to ``path`` atomically.

    The page is written to a temporary file next to ``path`` and renamed over
    it, so a reader never sees half a report and a crash leaves the old one.

    Returns
    -------
    Path
        ``path``.
    """
    text = render_report(
        stats,
        title=title,
        anomalies=anomalies,
        reference_split=reference_split,
        compare_split=compare_split,
        meta=meta,
        max_features=max_features,
        drift=drift,
    )
    return write_atomic(path, text)


# -- choosing what to show ---------------------------------------------------------------


def _pick_splits(
    splits: Mapping[str, DatasetStatistics], reference: str, compare: str | None
) -> tuple[str, str | None]:
    if len(splits) == 1:
        return next(iter(splits)), None
    available = ", ".join(repr(s) for s in splits)
    if reference not in splits:
        raise ValueError(
            f"reference_split {reference!r} is not in the statistics; expected one of {available}"
        )
    if compare is None:
        return reference, None
    if compare not in splits:
        raise ValueError(
            f"compare_split {compare!r} is not in the statistics; "
            f"expected one of {available}, or None"
        )
    if compare == reference:
        raise ValueError(f"compare_split must differ from reference_split; both are {compare!r}")
    return reference, compare


def _column_names(ref: DatasetStatistics, cur: DatasetStatistics | None) -> list[str]:
    # Reference order first, then columns only the compared split has.
    names = dict.fromkeys(ref.columns)
    if cur is not None:
        names.update(dict.fromkeys(cur.columns))
    return list(names)


@dataclass
class _DriftRow:
    """One column's drift metrics and what the thresholds say of them."""

    kind: str
    metrics: dict[str, float]
    status: str  # drift, watch, ok, or why there are no metrics: missing, new, kind changed
    flagged: frozenset[str]  # metrics past their threshold
    score: float  # the worst metric over its threshold (1.0 = at it), to rank columns

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> _DriftRow:
        metrics = {m.key: _number(d.get(m.key)) for m in _METRICS}
        if "js" not in d and d.get("js_divergence") is not None:
            metrics["js"] = math.sqrt(max(_number(d["js_divergence"]), 0.0))
        metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}
        flagged, ratios = set(), [0.0]
        for m in _METRICS:
            if m.key not in metrics or m.limit is None:
                continue
            value = metrics[m.key]
            ratio = m.limit / max(value, 1e-300) if m.lower_is_drift else value / m.limit
            if ratio > 1.0:
                flagged.add(m.key)
            if not m.soft:
                ratios.append(ratio)
        psi = metrics.get("psi", 0.0)
        hard = {k for k in flagged if k != "p_value"}
        if d.get("missing"):
            status = "missing"
        elif d.get("new"):
            status = "new"
        elif d.get("kind_cur"):
            status = "kind changed"
        elif not metrics:
            status = "n/a"
        # compare() says which columns drifted (on PSI); other metrics only raise a watch.
        elif d.get("drifted", psi > PSI_THRESHOLD):
            status = "drift"
        elif hard or psi > _PSI_WATCH:
            status = "watch"
        else:
            status = "ok"
        return cls(str(d.get("kind", "")), metrics, status, frozenset(flagged), max(ratios))

    @property
    def rank(self) -> tuple[int, float]:
        order = ("drift", "missing", "new", "kind changed", "watch", "ok", "n/a")
        return order.index(self.status) if self.status in order else len(order), -self.score


def _number(value: Any) -> float:
    """``value`` as a float; NaN for None, strings and booleans."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


# -- page parts --------------------------------------------------------------------------


def _header(
    title: str,
    splits: Mapping[str, DatasetStatistics],
    ref_name: str,
    cur_name: str | None,
    meta: Mapping[str, Any] | None,
    anomalies: bool,
) -> str:
    counts = "".join(
        f'<span class="chip{_split_class(name, ref_name, cur_name)}">'
        f"<b>{_e(name)}</b> {_int(s.num_rows)} rows · {len(s.columns)} columns</span>"
        for name, s in splits.items()
    )
    items = "".join(
        f"<dt>{_e(str(k))}</dt><dd>{_e(_cut(_plain(v), 200))}</dd>" for k, v in (meta or {}).items()
    )
    meta_html = f'<dl class="meta">{items}</dl>' if items else ""
    links = [
        '<a href="#anomalies">Anomalies</a>' if anomalies else "",
        '<a href="#drift">Drift</a>' if cur_name is not None else "",
        '<a href="#summary">Summary</a>',
        '<a href="#features">Features</a>',
    ]
    return (
        f"<header><h1>{_e(title)}</h1>{meta_html}<div class=chips>{counts}</div>"
        f"<nav>{' · '.join(link for link in links if link)}</nav></header>"
    )


def _split_class(name: str, ref_name: str, cur_name: str | None) -> str:
    return " ref" if name == ref_name and cur_name else " cur" if name == cur_name else ""


def _anomalies_section(anomalies: Any) -> str:
    errors = list(getattr(anomalies, "errors", ()) or ())
    warnings = list(getattr(anomalies, "warnings", ()) or ())
    head = '<section id="anomalies"><h2>Anomalies</h2>'
    if not errors and not warnings:
        return head + '<p class="good">No anomalies: the data matches its schema.</p></section>'
    summary = (
        f'<p><span class="badge error">{_plural(len(errors), "error")}</span> '
        f'<span class="badge warning">{_plural(len(warnings), "warning")}</span></p>'
    )
    body = []
    for severity, items in (("error", errors), ("warning", warnings)):
        for a in items:
            count = getattr(a, "count", None)
            examples = ", ".join(_cut(_shown(v), _CELL_CHARS) for v in getattr(a, "examples", ()))
            body.append(
                f'<tr class="{severity}"><td><span class="badge {severity}">{severity}</span></td>'
                f"<td class=name>{_e(_cut(str(getattr(a, 'column', '')), 60))}</td>"
                f"<td>{_e(str(getattr(a, 'rule', '')))}</td>"
                f'<td class="num">{"?" if count is None else _int(count)}</td>'
                f"<td><code>{_e(examples)}</code></td>"
                f"<td>{_e(str(getattr(a, 'location', None) or ''))}</td>"
                f"<td>{_e(str(getattr(a, 'message', '')))}</td></tr>"
            )
    table = (
        "<table><thead><tr><th>severity</th><th>column</th><th>rule</th>"
        '<th class="num">rows</th><th>examples</th><th>first seen</th><th>message</th></tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table>"
    )
    return head + summary + table + "</section>"


def _drift_section(
    ref_name: str,
    cur_name: str,
    names: Sequence[str],
    rows: Mapping[str, _DriftRow],
    ids: Mapping[str, int],
    plotted: set[str],
) -> str:
    shown = [m for m in _METRICS if any(m.key in r.metrics for r in rows.values())]
    ordered = sorted((n for n in names if n in rows), key=lambda n: (rows[n].rank, names.index(n)))
    drifted = sum(1 for n in ordered if rows[n].status == "drift")
    watch = sum(1 for n in ordered if rows[n].status == "watch")
    rules = ", ".join(
        f"{m.label} {'<' if m.lower_is_drift else '>'} {m.limit:g}" for m in shown if m.limit
    )
    verdict = "bad" if drifted else "good"
    lead = (
        f'<p class="{verdict}"><b>{drifted} of {_plural(len(ordered), "feature")}</b> drifted '
        f"between <b>{_e(ref_name)}</b> and <b>{_e(cur_name)}</b>"
        f"{f', {watch} to watch' if watch else ''}.</p>"
        f'<p class="note">A feature drifted when PSI &gt; {PSI_THRESHOLD:g}; "watch" when PSI '
        f"is over {_PSI_WATCH:g} or another metric is past its threshold. Values past their "
        f"threshold are marked ({_e(rules)}); a p-value is small for any shift in a large "
        "sample, so it is marked but decides nothing. Most drifted first.</p>"
    )
    head = "".join(f'<th class="num">{_e(m.label)}</th>' for m in shown)
    body = []
    for n in ordered:
        r = rows[n]
        cells = "".join(_metric_cell(m, r) for m in shown)
        name = _e(_cut(n, 60))
        link = f'<a href="#f{ids[n]}">{name}</a>' if n in plotted else name
        body.append(
            f"<tr><td class=name>{link}</td><td>{_e(r.kind)}</td>{cells}"
            f"<td>{_status(r.status)}</td></tr>"
        )
    return (
        f'<section id="drift"><h2>Drift: {_e(ref_name)} → {_e(cur_name)}</h2>{lead}'
        f'<div class="scroll"><table><thead><tr><th>column</th><th>kind</th>{head}'
        f"<th>status</th></tr></thead><tbody>{''.join(body)}</tbody></table></div></section>"
    )


def _metric_cell(metric: _Metric, row: _DriftRow) -> str:
    if metric.key not in row.metrics:
        return '<td class="num dim">–</td>'
    flag = (" soft" if metric.soft else " flag") if metric.key in row.flagged else ""
    return f'<td class="num{flag}">{_metric(metric.key, row.metrics[metric.key])}</td>'


def _summary_section(
    splits: Mapping[str, DatasetStatistics], ids: Mapping[str, int], plotted: set[str]
) -> str:
    kinds = " ".join(
        f'<span class="kind {k}">{k}</span>'
        for k in ("numeric", "categorical", "boolean", "datetime", "other")
    )
    parts = [
        '<section id="summary"><h2>Summary</h2>'
        f'<p class="note">Types are coloured by kind: {kinds}. Count is of non-null values; '
        "nulls are a share of rows.</p>"
    ]
    for split, ds in splits.items():
        body = []
        for name, col in ds.columns.items():
            kind = col.kind
            nulls = _null_fraction(col)
            shown = _e(_cut(name, 60))
            link = f'<a href="#f{ids[name]}">{shown}</a>' if name in plotted else shown
            top = _top_text(col) if kind in ("categorical", "boolean", "other") else ""
            cell = "num dt" if kind == "datetime" else "num"  # may wrap between date and time
            body.append(
                f"<tr><td class=name>{link}</td>"
                f'<td class=type><span class="kind {_e(kind)}" title="{_e(kind)}">'
                f"{_e(_cut(col.arrow_type, 24))}</span></td>"
                f'<td class="num">{_int(_valid(col))}</td>'
                f'<td class="num{" warn" if nulls > 0 else ""}">{_e(_pct(nulls))}</td>'
                f'<td class="{cell}">{_value(col, col.min)}</td>'
                f'<td class="{cell}">{_value(col, col.mean)}</td>'
                f'<td class="{cell}">{_value(col, col.max)}</td>'
                f'<td class="num">{_spread(col)}</td>'
                f'<td class="num">{_distinct(col)}</td>'
                f"<td class=top>{top}</td></tr>"
            )
        parts.append(
            f"<h3>{_e(split)} <span class=dim>{_int(ds.num_rows)} rows</span></h3>"
            '<div class="scroll"><table class="summary"><thead><tr><th>column</th><th>type</th>'
            '<th class="num" title="non-null values">count</th><th class="num">nulls</th><th class="num">min</th>'
            '<th class="num">mean</th><th class="num">max</th><th class="num">std</th>'
            '<th class="num">distinct</th><th>top values</th></tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )
    parts.append("</section>")
    return "".join(parts)


def _cap_note(total: int, shown: int, compared: bool) -> str:
    if shown >= total:
        return ""
    which = "the most drifted" if compared else "the first"
    return (
        f'<p class="note warn">Plots for {which} {_plural(shown, "feature")} of {total} '
        f"(max_features={shown}); the summary tables list every column.</p>"
    )


def _feature_section(
    index: int,
    name: str,
    ref_name: str,
    ref: DatasetStatistics,
    cur_name: str | None,
    cur: DatasetStatistics | None,
    drift: _DriftRow | None,
) -> str:
    a = ref.columns.get(name)
    b = cur.columns.get(name) if cur is not None else None
    series = [(ref_name, a, _REF_COLOR)] + ([(cur_name, b, _CUR_COLOR)] if cur_name else [])
    present = [(s, c, color) for s, c, color in series if c is not None]
    first = present[0][1]
    kind = first.kind
    notes = [f"Not in {s}." for s, c, _ in series if c is None]
    # Two kinds share no axis: plot the first split alone and say why.
    notes += [
        f"{s} has it as {c.kind} ({_cut(c.arrow_type, 40)}): not plotted."
        for s, c, _ in present
        if c.kind != kind
    ]
    present = [p for p in present if p[1].kind == kind]
    status = f" {_status(drift.status)}" if drift is not None else ""
    head = (
        f'<section class="feature" id="f{index}"><h3><span class=name>{_e(name)}</span> '
        f'<span class="kind {_e(kind)}">{_e(kind)}</span> '
        f'<span class="dim">{_e(_cut(first.arrow_type, 40))}</span>{status}</h3>'
    )
    note = "".join(f'<p class="note warn">{_e(text)}</p>' for text in notes)
    plot = _plot(name, present)
    side = [_mini_stats(present)]
    if drift is not None:
        side.append(_drift_list(drift))
    return (
        f'{head}{note}<div class="row"><div class="plot">{plot}</div>'
        f'<div class="side">{"".join(side)}</div></div></section>'
    )


def _mini_stats(present: Sequence[tuple[str | None, ColumnStatistics, str]]) -> str:
    head = "".join(
        f'<th class="num"><span class="swatch" style="background:{color}"></span>{_e(str(s))}</th>'
        for s, _, color in present
    )
    cols = [c for _, c, _ in present]
    rows: list[tuple[str, Callable[[ColumnStatistics], str]]] = [
        ("count", lambda c: _int(_valid(c))),
        ("nulls", lambda c: _e(_pct(_null_fraction(c)))),
        ("distinct", _distinct),
    ]
    if any(c.infinite for c in cols):
        rows.append(("infinite", lambda c: _int(c.infinite)))
    if cols[0].kind in ("numeric", "datetime"):
        rows += [
            ("min", lambda c: _value(c, c.min)),
            ("median", lambda c: _value(c, _median(c))),
            ("mean", lambda c: _value(c, c.mean)),
            ("max", lambda c: _value(c, c.max)),
            ("std", _spread),
        ]
    body = "".join(
        f"<tr><th>{label}</th>{''.join(f'<td class=num>{fn(c)}</td>' for c in cols)}</tr>"
        for label, fn in rows
    )
    return (
        f'<table class="mini"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _drift_list(row: _DriftRow) -> str:
    items = []
    for m in _METRICS:
        if m.key not in row.metrics:
            continue
        rule = (
            f' <span class="dim">({"&lt;" if m.lower_is_drift else "&gt;"} {m.limit:g})</span>'
            if m.limit is not None
            else ""
        )
        items.append(f"<tr><th>{_e(m.label)}{rule}</th>{_metric_cell(m, row)}</tr>")
    return (
        f'<table class="mini"><thead><tr><th>drift</th><th class="num">{_status(row.status)}'
        f"</th></tr></thead><tbody>{''.join(items)}</tbody></table>"
    )


# -- plots -------------------------------------------------------------------------------


def _plot(name: str, present: Sequence[tuple[str | None, ColumnStatistics, str]]) -> str:
    kind = present[0][1].kind
    splits = " and ".join(str(s) for s, _, _ in present)
    alt = f"Distribution of {name} in {splits}"
    if kind in ("numeric", "datetime"):
        png = _histogram_png(present)
    elif kind in ("categorical", "boolean"):
        png = _bars_png(present)
    else:
        png = None
    if png is None:
        return f'<p class="note">No distribution to plot for {_e(_plural_values(present))}.</p>'
    data, width, height = png
    errors = [c.quantile_error for _, c, _ in present if _finite(c.quantile_error)]
    note = (
        f'<p class="note">Estimated from quantile sketches (rank error ±{_e(_pct(max(errors)))}, '
        "99% confidence).</p>"
        if kind in ("numeric", "datetime") and any(e > 0 for e in errors)
        else ""
    )
    return (
        f'<img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
        f'alt="{_e(alt)}">{note}'
    )


def _plural_values(present: Sequence[tuple[str | None, ColumnStatistics, str]]) -> str:
    col = present[0][1]
    if all(_valid(c) == 0 for _, c, _ in present):
        return "a column with no values"
    return f"type {col.arrow_type}"


def _histogram_png(
    present: Sequence[tuple[str | None, ColumnStatistics, str]],
) -> tuple[str, int, int] | None:
    cols = [(s, c, color) for s, c, color in present if _valid(c) > 0 and _finite(c.min, c.max)]
    if not cols:
        return None
    col0 = cols[0][1]
    edges, clipped = _common_edges([c for _, c, _ in cols])
    fractions = [_on_edges(c, edges) for _, c, _ in cols]

    fig, ax = _figure(6.4, 2.6)
    n = len(cols)
    widths = np.diff(edges)
    # Paired bars: each bin shared by the series, so that neither hides the other.
    # A single bin (a constant column) would otherwise fill the whole plot.
    group = 0.84 if len(widths) > 1 else 0.3
    for i, ((split, col, color), frac) in enumerate(zip(cols, fractions, strict=True)):
        left = edges[:-1] + widths * ((1 - group) / 2 + group * i / n)
        ax.bar(
            _x(col, left),
            frac,
            width=_x(col, widths * group / n),
            align="edge",
            color=color,
            label=_legend(split, col),
        )
    ax.set_xlim(_x(col0, edges[0]), _x(col0, edges[-1]))
    if col0.kind == "datetime":
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        locator = AutoDateLocator()  # type: ignore[no-untyped-call]  # untyped in matplotlib
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    elif _is_integer(col0) and edges[-1] - edges[0] <= 30:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _percent_axis(ax, "y", max(float(f.max()) for f in fractions))
    if clipped:
        ax.set_xlabel("x clipped to the 0.5–99.5 percentiles: the end bars hold the tails")
    # Room for the year or month that concise date ticks write under the axis.
    return _finish(fig, ax, below=0.15 if col0.kind == "datetime" else 0.0)


def _common_edges(cols: Sequence[ColumnStatistics]) -> tuple[F64, bool]:
    """Bin edges shared by the splits, and whether outliers were clipped off the range.

    Integer columns get bins of a whole number of values centred on integers,
    so that a bar never straddles two values and two splits bin alike.
    """
    lo = min(_number(c.min) for c in cols)
    hi = max(_number(c.max) for c in cols)
    clipped = False
    if hi > lo:
        q_lo = min(float(c.quantiles([_TAIL_Q[0]])[0]) for c in cols)
        q_hi = max(float(c.quantiles([_TAIL_Q[1]])[0]) for c in cols)
        # One outlier would squeeze the whole distribution into a bar or two.
        if q_hi > q_lo and hi - lo > 5 * (q_hi - q_lo):
            lo, hi, clipped = q_lo, q_hi, True
    if all(_is_integer(c) for c in cols):
        lo, hi = math.floor(lo), math.ceil(hi)
        width = max(1, math.ceil((hi - lo + 1) / _BINS))
        count = math.ceil((hi - lo + 1) / width)
        return lo - 0.5 + width * np.arange(count + 1, dtype=np.float64), clipped
    if hi == lo:
        return np.array([lo - 0.5, lo + 0.5]), clipped
    return np.linspace(lo, hi, _BINS + 1), clipped


def _is_integer(col: ColumnStatistics) -> bool:
    return col.kind == "numeric" and col.arrow_type.startswith(("int", "uint"))


def _on_edges(col: ColumnStatistics, edges: F64) -> F64:
    """The share of the column's values in each bin of ``edges``, from its CDF.

    Values below or above ``edges`` go to the end bins.
    """
    at = np.asarray(col.cdf(edges.tolist()), dtype=np.float64)
    at[0], at[-1] = 0.0, 1.0
    return np.clip(np.diff(at), 0.0, None)


def _bars_png(
    present: Sequence[tuple[str | None, ColumnStatistics, str]],
) -> tuple[str, int, int] | None:
    # Counts are looked up in a longer list than is plotted: a value frequent in
    # one split may be outside the other's top few without being absent from it.
    tops = [dict(_top_pairs(c, _TOP_LOOKUP)) for _, c, _ in present]
    totals = [max(_valid(c), 1) for _, c, _ in present]
    candidates = {v for top in tops for v in list(top)[:_TOP_PLOTTED]}
    # Ranked by the mean share over the splits: the largest share alone would
    # favour the noisiest split's flukes; a value new in one split still ranks.
    share = {
        v: sum(top.get(v, 0) / t for top, t in zip(tops, totals, strict=True)) for v in candidates
    }
    keys = sorted(candidates, key=lambda v: (-share[v], str(v)))[:_TOP_PLOTTED]
    if not keys:
        return None
    # The reference's most frequent first, so that values new in the other come last.
    keys.sort(key=lambda v: tuple(-top.get(v, 0) / t for top, t in zip(tops, totals, strict=True)))
    fracs = [[top.get(k, 0) / t for k in keys] for top, t in zip(tops, totals, strict=True)]
    rest = [max(0.0, 1.0 - sum(f)) for f in fracs]

    rows = len(keys)
    per_row = 0.2 + 0.1 * len(present)
    fig, ax = _figure(6.4, max(1.6, 0.75 + per_row * rows))
    y = np.arange(rows)
    height = 0.8 / len(present)
    for i, ((split, col, color), f) in enumerate(zip(present, fracs, strict=True)):
        ax.barh(
            y - 0.4 + height * (i + 0.5),
            f,
            height=height * 0.92,
            color=color,
            label=_legend(split, col),
        )
    ax.set_yticks(y, [_label(k) for k in keys])
    for text in ax.get_yticklabels():
        text.set_parse_math(False)  # a value with "$" is not TeX
    ax.set_ylim(rows - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    _percent_axis(ax, "x", max(max(f) for f in fracs))
    if any(r > 0.0005 for r in rest):
        # As a caption, not a bar: a long tail would dwarf every value shown.
        shares = ", ".join(f"{s} {_pct(r)}" for (s, _, _), r in zip(present, rest, strict=True))
        ax.set_xlabel(_cut(f"other values (not shown): {shares}", 90), parse_math=False)
    return _finish(fig, ax)


def _figure(width: float, height: float) -> tuple[Any, Axes]:
    # A bare Figure (no pyplot) draws with Agg without touching the global backend,
    # so rendering a report in a notebook or a server thread leaves their plotting alone.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8.5, colors="#333")
    ax.xaxis.label.set_fontsize(8.5)
    ax.grid(axis="both", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _finish(fig: Any, ax: Axes, below: float = 0.0) -> tuple[str, int, int]:
    # The legend sits above the axes, where it cannot cover a bar.
    legend = ax.legend(
        fontsize=8.5,
        frameon=False,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncol=4,
        borderaxespad=0.2,
        handlelength=1.2,
        columnspacing=1.5,
    )
    for text in legend.get_texts():
        text.set_parse_math(False)
    width, height = fig.get_size_inches()
    # Margins in inches, set by hand: constrained layout costs ~3x the drawing time.
    labels = max((len(t.get_text()) for t in ax.get_yticklabels()), default=4)
    left = min(2.2, 0.25 + 0.065 * labels)
    bottom = 0.35 + below + (0.2 if ax.get_xlabel() else 0.0)
    fig.subplots_adjust(
        left=left / width, right=1 - 0.15 / width, top=1 - 0.32 / height, bottom=bottom / height
    )
    buf = io.BytesIO()
    # Twice the pixels for sharp text on high-density screens; no metadata, so
    # equal statistics give equal bytes.
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return (
        base64.b64encode(buf.getvalue()).decode("ascii"),
        round(width * 100),
        round(height * 100),
    )


def _percent_axis(ax: Axes, which: str, top: float) -> None:
    from matplotlib.ticker import PercentFormatter

    decimals = 0 if top >= 0.1 else 1 if top >= 0.01 else 2
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def _legend(split: str | None, col: ColumnStatistics) -> str:
    return _cut(f"{split} ({_int(_valid(col))} values)", 60)


def _valid(col: ColumnStatistics) -> int:
    """Non-null values (``count`` counts rows, nulls included)."""
    return max(int(col.count) - int(col.nulls), 0)


def _null_fraction(col: ColumnStatistics) -> float:
    return col.nulls / col.count if col.count else 0.0


def _x(col: ColumnStatistics, seconds: Any) -> Any:
    # Matplotlib's dates are days since 1970; datetime statistics are seconds.
    return seconds / 86400.0 if col.kind == "datetime" else seconds


# -- values as text ----------------------------------------------------------------------


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    return str(value)


def _label(value: Any) -> str:
    text = "null" if value is None else _plain(value)
    if isinstance(value, bool):
        text = text.lower()
    # Control characters would break a tick label's line; show them escaped.
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return _cut(text, _LABEL_CHARS) if text else '""'


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _int(n: Any) -> str:
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return "–"


def _pct(x: float) -> str:
    """A share as a percentage (plain text: escape it for HTML)."""
    if x == 0:
        return "0%"
    if x < 0.001:
        return "<0.1%"
    return f"{100 * x:.1f}%"


def _float(x: float) -> str:
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    mag = abs(x)
    if mag >= 1e9 or mag < 1e-4:
        return f"{x:.3e}"
    if x == int(x) and mag < 1e6:
        return f"{int(x):,}"
    decimals = min(6, max(0, 3 - math.floor(math.log10(mag))))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _finite(*values: Any) -> bool:
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def _value(col: ColumnStatistics, value: Any) -> str:
    """A min, mean or max: numbers formatted, datetimes (epoch seconds) as ISO 8601."""
    if value is None or _valid(col) == 0:
        return '<span class="dim">–</span>'
    if col.kind == "datetime" and _finite(value):
        # A narrow cell may wrap between date and time, never inside either.
        parts = _instant(float(value), col.arrow_type).split(" ")
        return " ".join(f"<span class=nw>{_e(p)}</span>" for p in parts)
    if isinstance(value, bool):
        return str(value).lower()
    if _finite(value):
        return _float(float(value))
    return f"<code>{_e(_cut(_label(value), _SHORT_CHARS))}</code>"


def _instant(seconds: float, arrow_type: str) -> str:
    try:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    except OverflowError:
        return _float(seconds)
    if arrow_type.startswith("date"):
        return moment.date().isoformat()
    text = moment.isoformat(sep=" ", timespec="seconds")
    return text if "tz=" in arrow_type else text.removesuffix("+00:00")


def _spread(col: ColumnStatistics) -> str:
    std = col.std
    if not _finite(std) or _valid(col) == 0:
        return '<span class="dim">–</span>'
    if col.kind == "datetime":
        return _e(_duration(_number(std)))
    return _float(_number(std))


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{_float(round(seconds / size, 2))} {unit}"
    return f"{_float(round(seconds, 3))} s"


def _median(col: ColumnStatistics) -> Any:
    return col.quantiles([0.5])[0] if _valid(col) else None


def _distinct(col: ColumnStatistics) -> str:
    d = col.distinct
    if not _finite(d):
        return '<span class="dim">–</span>'
    d = min(d, _valid(col))  # an estimate can exceed the values counted
    # Past the frequency summary's size, distinct counts are HyperLogLog estimates.
    approx = "≈" if d > _EXACT_DISTINCT else ""
    return f"{approx}{_int(round(d))}"


def _top_pairs(col: ColumnStatistics, k: int) -> list[tuple[Any, int]]:
    if _valid(col) == 0:
        return []
    return [(v, int(n)) for v, n in col.top(k)]


def _top_text(col: ColumnStatistics) -> str:
    total = max(_valid(col), 1)
    return "".join(
        f"<div><code>{_e(_cut(_label(v), _SHORT_CHARS))}</code> {_e(_pct(n / total))}</div>"
        for v, n in _top_pairs(col, _TOP_LISTED)
    )


def _metric(key: str, value: float) -> str:
    if key == "new_category_rate":
        return _e(_pct(value))
    if key == "p_value":
        return "0" if value == 0 else f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"
    return f"{value:.3f}" if abs(value) < 100 else _float(value)


def _status(status: str) -> str:
    css = {"drift": "drift", "ok": "ok", "n/a": "na"}.get(status, "watch")
    return f'<span class="badge {css}">{_e(status)}</span>'


# -- the page ----------------------------------------------------------------------------

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
section.feature{border:0;border-top:1px solid #eaeef2;border-radius:0;padding:8px 0 4px;margin:0}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0 10px;color:#57606a}
dl.meta dt{font-weight:600}dl.meta dd{margin:0;overflow-wrap:anywhere}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0}
.chip{background:#eaeef2;border-radius:12px;padding:2px 10px;font-variant-numeric:tabular-nums}
.chip.ref{background:#dbe4f3}.chip.cur{background:#f8e1d2}
nav{margin-top:6px}nav a,a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #eaeef2}
thead th{background:#f6f8fa;font-weight:600;border-bottom:1px solid #d0d7de;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
td.dt{white-space:normal}.nw{white-space:nowrap}
td.name{font-weight:600;overflow-wrap:break-word;max-width:260px}
td.type{white-space:nowrap}
td.top{color:#57606a;font-size:12px;white-space:nowrap}
td.top code{font-size:11.5px}
.scroll{overflow-x:auto}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;padding:0 3px;border-radius:3px}
.dim{color:#8c959f;font-weight:400}
.note{color:#57606a;font-size:13px;margin:4px 0 10px}
.note.warn,td.warn{color:#9a6700}
.good{color:#1a7f37}.bad{color:#cf222e}
td.flag{color:#cf222e;font-weight:700}td.soft{color:#9a6700;font-weight:600}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;line-height:18px}
.badge.error,.badge.drift{background:#ffebe9;color:#cf222e;border:1px solid #ff818266}
.badge.warning,.badge.watch{background:#fff8c5;color:#9a6700;border:1px solid #d4a72c66}
.badge.ok{background:#dafbe1;color:#1a7f37;border:1px solid #4ac26b66}
.badge.na{background:#f6f8fa;color:#57606a;border:1px solid #d0d7de}
tr.error td{background:#fff5f5}tr.warning td{background:#fffbea}
.kind{font-size:11px;font-weight:600;border-radius:4px;padding:0 5px;background:#eaeef2;color:#57606a}
.kind.numeric{background:#ddf4ff;color:#0969da}.kind.categorical{background:#fbefff;color:#8250df}
.kind.datetime{background:#fff1e5;color:#bc4c00}.kind.boolean{background:#dafbe1;color:#1a7f37}
.feature h3 .name{overflow-wrap:anywhere}
.row{display:flex;flex-wrap:wrap;gap:12px 24px;align-items:flex-start}
.plot img{display:block;max-width:100%;height:auto}
.side{display:flex;flex-direction:column;gap:10px;min-width:260px}
table.mini th{font-weight:500;color:#57606a}
table.mini thead th{color:#1f2328;font-weight:600}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
footer{color:#8c959f;font-size:12px;text-align:center}
"""


def _page(title: str, body: str) -> str:
    return page(title, body, _CSS)
