"""The monitor's plots, as PNG data (matplotlib, no pyplot), drawn like the evaluation's."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ..evaluate._plots import CANDIDATE, PRODUCTION, Png, _cut, _figure, _finish

__all__ = ["histogram", "over_time", "prediction_band"]


def histogram(name: str, hist: Mapping[str, Any]) -> Png:
    """Training vs window proportions per bin of one feature."""
    bins = [_cut(str(b)) for b in hist["bins"]]
    x = np.arange(len(bins))
    fig, ax = _figure(6.0, 3.0)
    ax.bar(x - 0.2, hist["training"], width=0.4, color=PRODUCTION, label="training")
    ax.bar(x + 0.2, hist["window"], width=0.4, color=CANDIDATE, label="window")
    ax.set_xticks(x, bins, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("share of rows", fontsize=8.5)
    return _finish(fig, ax, below=0.35)


def _date_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _times(starts: Sequence[float]) -> Any:
    """Window starts as naive UTC datetimes (matplotlib's date axis)."""
    return [datetime.fromtimestamp(s, UTC).replace(tzinfo=None) for s in starts]


def over_time(
    series: Mapping[str, Sequence[float | None]],
    starts: Sequence[float],
    ylabel: str,
    *,
    guide: float | None = None,
) -> Png:
    """One line per name over the windows' start times (None: a gap)."""
    fig, ax = _figure(7.0, 3.2)
    when = _times(starts)
    for name, values in series.items():
        y = np.array([np.nan if v is None else v for v in values], dtype=float)
        ax.plot(when, y, marker="o", markersize=3, linewidth=1.3, label=_cut(name))
    if guide is not None:
        ax.axhline(guide, color="#8c959f", linewidth=0.8, linestyle=":")
    ax.set_ylabel(ylabel, fontsize=8.5)
    _date_axis(ax)
    with warnings.catch_warnings():  # windows seconds apart: the locator falls back, and says so
        warnings.simplefilter("ignore", UserWarning)
        return _finish(fig, ax, below=0.4)


def prediction_band(rows: Sequence[Mapping[str, Any]], starts: Sequence[float]) -> Png:
    """The main prediction's median with its 10th-90th percentile band, per window."""
    fig, ax = _figure(7.0, 3.2)
    when = _times(starts)

    def get(key: str) -> np.ndarray:
        return np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=float)

    ax.fill_between(
        when,
        get("prediction_p10"),
        get("prediction_p90"),
        color=CANDIDATE,
        alpha=0.2,
        label="p10-p90",
    )
    ax.plot(when, get("prediction_p50"), color=CANDIDATE, marker="o", markersize=3, label="median")
    ax.plot(when, get("prediction_mean"), color=PRODUCTION, linestyle="--", label="mean")
    ax.set_ylabel("prediction", fontsize=8.5)
    _date_axis(ax)
    with warnings.catch_warnings():  # windows seconds apart: the locator falls back, and says so
        warnings.simplefilter("ignore", UserWarning)
        return _finish(fig, ax, below=0.4)
