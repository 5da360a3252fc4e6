"""The tuning report's plots: PNG images drawn on bare matplotlib Figures (no pyplot state).

Texts that come from the user (param names, categorical choices) are drawn with
mathtext off, so a ``$`` in a name is shown as written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..evaluate._plots import Png, _cut, _figure, _finish, _plain_axes, _png

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Png", "curves", "history", "importances", "slices"]

COMPLETE, BEST, PRUNED, GUIDE = "#4C72B0", "#DD8452", "#8c959f", "#8c959f"
_MAX_SLICES = 9


def history(numbers: Sequence[int], values: Sequence[float], maximize: bool, metric: str) -> Png:
    """Each complete trial's value by trial number, and the best so far as a step line."""
    fig, ax = _figure(6.4, 3.4)
    x, y = np.asarray(numbers), np.asarray(values, dtype=np.float64)
    best = np.maximum.accumulate(y) if maximize else np.minimum.accumulate(y)
    ax.scatter(x, y, s=14, color=COMPLETE, label="complete trial", zorder=3)
    ax.step(x, best, where="post", color=BEST, linewidth=1.6, label="best so far")
    _labels(ax, "trial number", metric)
    return _finish(fig, ax)


def importances(values: Mapping[str, float]) -> Png:
    """Horizontal bars of each param's importance (share of the variance of the value)."""
    items = sorted(values.items(), key=lambda kv: -kv[1])
    fig, ax = _figure(5.2, 0.9 + 0.3 * max(len(items), 1))
    y = np.arange(len(items))[::-1]
    ax.barh(y, [v for _, v in items], color=COMPLETE, height=0.65)
    ax.set_yticks(y, [_cut(name) for name, _ in items])
    ax.set_xlabel("importance (PED-ANOVA, sums to 1)", fontsize=8.5)
    ax.grid(axis="y", visible=False)
    return _finish(fig, ax, legend=False)


def slices(
    params: Mapping[str, Sequence[Any]],
    values: Sequence[float],
    numbers: Sequence[int],
    logs: Mapping[str, bool],
    metric: str,
) -> Png:
    """One panel per param: the value of each complete trial against the param's value."""
    from matplotlib.figure import Figure

    names = list(params)[:_MAX_SLICES]
    cols = min(3, max(len(names), 1))
    rows = (len(names) + cols - 1) // cols
    fig = Figure(figsize=(3.0 * cols + 0.4, 2.5 * rows + 0.3), dpi=100)
    y = np.asarray(values, dtype=np.float64)
    color = np.asarray(numbers, dtype=np.float64)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        _plain_axes(ax)
        raw = list(params[name])
        shown = [k for k, v in enumerate(raw) if v is not None]  # None: the param was inactive
        if all(isinstance(raw[k], int | float) and not isinstance(raw[k], bool) for k in shown):
            xs = np.asarray([raw[k] for k in shown], dtype=np.float64)
            if logs.get(name):
                ax.set_xscale("log")
        else:  # choices are the user's text: shown as written, never as mathtext
            labels = sorted({str(raw[k]) for k in shown})
            xs = np.asarray([labels.index(str(raw[k])) for k in shown], dtype=np.float64)
            ax.set_xticks(range(len(labels)), [_cut(s) for s in labels])
            for text in ax.get_xticklabels():
                text.set_parse_math(False)
        ax.scatter(
            xs, y[shown], s=10, c=color[shown], cmap="Blues", vmin=-0.3 * max(color.max(), 1)
        )
        ax.set_title(_cut(name), fontsize=9)
        ax.title.set_parse_math(False)
        if i % cols == 0:
            ax.set_ylabel(metric, fontsize=8.5)
            ax.yaxis.label.set_parse_math(False)
    fig.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.12, wspace=0.35, hspace=0.55)
    return _png(fig)


def curves(series: Sequence[tuple[Mapping[int, float], bool]], ylabel: str) -> Png:
    """Each trial's reported eval curve; pruned trials grey, complete ones blue."""
    fig, ax = _figure(6.4, 3.4)
    for points, pruned in series:
        steps = sorted(points)
        ax.plot(
            steps,
            [points[s] for s in steps],
            color=PRUNED if pruned else COMPLETE,
            linewidth=0.9 if pruned else 1.1,
            alpha=0.6 if pruned else 0.8,
        )
    ax.plot([], [], color=COMPLETE, label="complete")
    ax.plot([], [], color=PRUNED, label="pruned")
    _labels(ax, "step (boosting round or epoch)", ylabel)
    return _finish(fig, ax)


# -- shared drawing ---------------------------------------------------------------------------


def _labels(ax: Axes, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(xlabel, fontsize=8.5)
    ax.set_ylabel(ylabel, fontsize=8.5)
    ax.yaxis.label.set_parse_math(False)
