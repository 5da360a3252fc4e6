"""The evaluation report's plots: PNG images drawn on bare matplotlib Figures.

A bare ``Figure`` draws with the Agg canvas without touching pyplot's global
backend, so rendering a report in a notebook or a server thread leaves their
plotting alone; matplotlib is imported on first use. Every text that comes
from data (class names, feature names) is drawn with mathtext off, so a ``$``
in a name is shown, not interpreted.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Png = tuple[str, int, int]  # base64 PNG, width and height in CSS pixels

CANDIDATE, PRODUCTION, GUIDE = "#4C72B0", "#DD8452", "#8c959f"
_DPI = 200  # twice the page's 100 pixels per inch: sharp on high-density screens
_LABEL_CHARS = 28
_MAX_CLASSES = 30  # a confusion matrix of more classes does not read
_MAX_FEATURES = 20


def roc(models: Mapping[str, Mapping[str, Any]], aucs: Mapping[str, float]) -> Png:
    """ROC curves of the models (name -> curves data), the diagonal for reference."""
    fig, ax = _figure(4.2, 3.6)
    ax.plot([0, 1], [0, 1], color=GUIDE, linewidth=0.8, linestyle=":")
    for name, data in models.items():
        label = f"{name} (AUC {aucs[name]:.3f})" if name in aucs else name
        ax.plot(data["roc"]["fpr"], data["roc"]["tpr"], label=label, **_style(name))
    _axes(ax, "false positive rate", "true positive rate", square=True)
    return _finish(fig, ax)


def precision_recall(models: Mapping[str, Mapping[str, Any]], aps: Mapping[str, float]) -> Png:
    """Precision-recall curves, with the positive rate (a random model's precision)."""
    fig, ax = _figure(4.2, 3.6)
    base = next(iter(models.values()))["pr"]["base_rate"]
    ax.axhline(base, color=GUIDE, linewidth=0.8, linestyle=":")
    for name, data in models.items():
        label = f"{name} (AP {aps[name]:.3f})" if name in aps else name
        pr = data["pr"]
        ax.step(pr["recall"], pr["precision"], where="post", label=label, **_style(name))
    _axes(ax, "recall", "precision", square=True)
    return _finish(fig, ax)


def calibration(models: Mapping[str, Mapping[str, Any]]) -> Png:
    """Reliability diagram: positive rate against mean score per score bin."""
    fig, ax = _figure(4.2, 3.6)
    ax.plot([0, 1], [0, 1], color=GUIDE, linewidth=0.8, linestyle=":")
    for name, data in models.items():
        cal = data["calibration"]
        ax.plot(
            cal["mean_score"],
            cal["positive_rate"],
            marker="o",
            markersize=3.5,
            label=name,
            **_style(name),
        )
    _axes(ax, "mean predicted probability (10 bins)", "observed positive rate", square=True)
    return _finish(fig, ax)


def confusion(data: Mapping[str, Any]) -> Png:
    """Multiclass confusion matrix, each row (true class) as shares, counts written in."""
    matrix = np.asarray(data["confusion"], dtype=np.float64)
    names = [str(n) for n in data["labels"]]
    if len(names) > _MAX_CLASSES:  # the classes with the most rows
        keep = np.sort(np.argsort(-matrix.sum(axis=1), kind="stable")[:_MAX_CLASSES])
        matrix, names = matrix[np.ix_(keep, keep)], [names[i] for i in keep]
    k = len(names)
    size = min(8.0, 2.4 + 0.35 * k)
    fig, ax = _figure(size + 1.2, size)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="equal")
    ax.grid(False)
    if k <= 12:
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:,.0f}",
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="white" if shares[i, j] > 0.6 else "#1f2328",
                )
    labels = [_cut(n) for n in names]
    turned = k > 4 or max(map(len, labels), default=0) > 6
    ax.set_xticks(
        range(k), labels, rotation=45 if turned else 0, ha="right" if turned else "center"
    )
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted class", fontsize=8.5)
    ax.set_ylabel("true class", fontsize=8.5)
    # Slanted labels hang below the axis by about 0.7 of their length.
    below = 0.045 * max(map(len, labels), default=0) if turned else 0.0
    return _finish(fig, ax, legend=False, below=below)


def predicted_vs_actual(data: Mapping[str, Any]) -> Png:
    """Scatter of predictions against the truth, the diagonal for perfect predictions."""
    actual, predicted = np.asarray(data["actual"]), np.asarray(data["predicted"])
    fig, ax = _figure(4.2, 3.6)
    low = float(min(actual.min(), predicted.min())) if len(actual) else 0.0
    high = float(max(actual.max(), predicted.max())) if len(actual) else 1.0
    ax.plot([low, high], [low, high], color=GUIDE, linewidth=0.8, linestyle=":")
    ax.scatter(
        predicted, actual, s=4, alpha=0.35, color=CANDIDATE, linewidths=0, label=_sample_label(data)
    )
    _axes(ax, "predicted", "actual")
    return _finish(fig, ax)


def residuals(data: Mapping[str, Any]) -> Png:
    """Scatter of residuals (actual - predicted) against predictions."""
    actual, predicted = np.asarray(data["actual"]), np.asarray(data["predicted"])
    fig, ax = _figure(4.2, 3.6)
    ax.axhline(0, color=GUIDE, linewidth=0.8, linestyle=":")
    ax.scatter(
        predicted,
        actual - predicted,
        s=4,
        alpha=0.35,
        color=CANDIDATE,
        linewidths=0,
        label=_sample_label(data),
    )
    _axes(ax, "predicted", "residual (actual - predicted)")
    return _finish(fig, ax)


def importances(values: Mapping[str, Any]) -> Png:
    """Horizontal bars of the most important features, with the std as error bars if given."""
    pairs = [
        (str(name), (float(v[0]), float(v[1])) if isinstance(v, Sequence) else (float(v), 0.0))
        for name, v in values.items()
    ]
    items = sorted(pairs, key=lambda item: -item[1][0])[:_MAX_FEATURES]
    errors = [std for _, (_, std) in items]
    fig, ax = _figure(5.2, 0.9 + 0.24 * max(len(items), 1))
    y = np.arange(len(items))[::-1]
    ax.barh(
        y,
        [mean for _, (mean, _) in items],
        xerr=errors if any(errors) else None,
        color=CANDIDATE,
        height=0.7,
        error_kw={"elinewidth": 0.8, "ecolor": "#57606a"},
    )
    ax.set_yticks(y, [_cut(name) for name, _ in items])
    ax.axvline(0, color=GUIDE, linewidth=0.8)
    ax.grid(axis="y", visible=False)
    return _finish(fig, ax, legend=False)


# -- shared drawing ---------------------------------------------------------------------------


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    _plain_axes(ax)
    return fig, ax


def _plain_axes(ax: Axes) -> None:
    """No top and right spines, light grid behind the data, small grey ticks."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8.5, colors="#333")
    ax.grid(axis="both", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)


def _axes(ax: Axes, xlabel: str, ylabel: str, *, square: bool = False) -> None:
    ax.set_xlabel(xlabel, fontsize=8.5)
    ax.set_ylabel(ylabel, fontsize=8.5)
    if square:
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)


def _style(name: str) -> dict[str, Any]:
    if name == "candidate":
        return {"color": CANDIDATE, "linewidth": 1.6}
    return {"color": PRODUCTION, "linewidth": 1.3, "linestyle": "--"}


def _finish(fig: Figure, ax: Axes, *, legend: bool = True, below: float = 0.0) -> Png:
    if legend:
        shown = ax.legend(
            fontsize=8,
            frameon=False,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            ncol=2,
            borderaxespad=0.2,
            handlelength=1.6,
        )
        for text in shown.get_texts():
            text.set_parse_math(False)
    for text in (*ax.get_xticklabels(), *ax.get_yticklabels()):
        text.set_parse_math(False)
    # Margins set by hand: constrained layout costs several times the drawing.
    width, height = fig.get_size_inches()
    labels = max((len(t.get_text()) for t in ax.get_yticklabels()), default=4)
    left = min(2.4, 0.45 + 0.062 * labels)
    fig.subplots_adjust(
        left=left / width,
        right=1 - 0.2 / width,
        top=1 - (0.42 if legend else 0.15) / height,
        bottom=min(0.5 + below, height / 2) / height,
    )
    return _png(fig)


def _png(fig: Figure) -> Png:
    width, height = fig.get_size_inches()
    buf = io.BytesIO()
    # No metadata, so equal data give equal bytes.
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii"), round(width * 100), round(height * 100)


def _sample_label(data: Mapping[str, Any]) -> str:
    shown, rows = len(data["actual"]), int(data.get("rows", len(data["actual"])))
    return f"candidate ({shown:,} of {rows:,} rows)" if shown < rows else "candidate"


def _cut(text: str) -> str:
    text = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"
