"""The DriftReport of one window: drift, skew, service health and label metrics, as JSON.

Built from a :class:`~._window.WindowStats` and the served version's
references (:class:`~._reference.Reference`) with the drift functions of
:mod:`shipyard.validate.drift`. Every number also appears in
:attr:`DriftReport.metrics`, one flat dict that alert rules read by name
(``docs/monitoring.md`` lists the names). Values that cannot be computed
(no rows, one class) are ``None``, never NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..validate import drift
from ..validate._column import ColumnStatistics
from ..validate.stats import DatasetStatistics
from ._reference import score_column
from ._window import WindowStats

__all__ = ["DriftReport", "build_report"]

FORMAT = "shipyard.drift_report"
_HIST_BINS = 10
_TOP = 12


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


@dataclass
class DriftReport:
    """The JSON-able report of one window (see the module docstring).

    Attributes
    ----------
    features, predictions, skew
        One row per column, as :func:`shipyard.validate.drift.compare` makes them
        (``psi``, ``ks``, ``js_divergence``, ``chi_squared``, ``p_value``,
        ``new_category_rate``, ``drifted``), for the raw inputs against the
        training split, the outputs against the eval split's predictions, and
        the transformed features against the transformed training split.
    histograms
        For each drifted feature: bin labels and the training and window
        proportions (the HTML report draws them).
    prediction
        The window's distribution of the main output: mean and deciles.
    notes
        What could not be computed, and why.
    """

    model: str
    ref: str
    version: str
    start: float
    end: float
    rows: int
    versions: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    features: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    skew: list[dict[str, Any]] | None = None
    histograms: dict[str, dict[str, Any]] = field(default_factory=dict)
    prediction: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def drifted_features(self) -> list[str]:
        return [r["column"] for r in self.features if r.get("drifted")]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (no NaN) with a format tag."""
        return _clean({"format": FORMAT, "version_format": 1, **asdict(self)})  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftReport:
        if d.get("format") != FORMAT:
            raise ValueError(f"not a drift report: format {d.get('format')!r}, expected {FORMAT!r}")
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


def _histogram(ref: ColumnStatistics, cur: ColumnStatistics) -> dict[str, Any]:
    """Training vs window proportions over the training quantile bins (or top categories)."""
    if ref.kind in ("numeric", "datetime"):
        ranks = [i / _HIST_BINS for i in range(1, _HIST_BINS)]
        edges = sorted(set(ref.quantiles(ranks)))
        r = [0.0, *ref.cdf(edges), 1.0]
        c = [0.0, *cur.cdf(edges), 1.0]
        labels = [f"≤ {edges[0]:.4g}"] if edges else ["all"]
        labels += [f"{a:.4g} – {b:.4g}" for a, b in zip(edges, edges[1:], strict=False)]
        labels += [f"> {edges[-1]:.4g}"] if edges else []
        return {
            "kind": "numeric",
            "bins": labels,
            "training": [b - a for a, b in zip(r, r[1:], strict=False)],
            "window": [b - a for a, b in zip(c, c[1:], strict=False)],
        }
    rt = dict(ref.top(_TOP))
    ct = dict(cur.top(_TOP))
    keys = list(dict.fromkeys([*rt, *ct]))[:_TOP]
    rn = max(ref.count - ref.nulls, 1)
    cn = max(cur.count - cur.nulls, 1)
    return {
        "kind": "categorical",
        "bins": [str(k) for k in keys],
        "training": [rt.get(k, 0) / rn for k in keys],
        "window": [ct.get(k, 0) / cn for k in keys],
    }


def _metric_rows(rows: list[dict[str, Any]], prefix: str, out: dict[str, Any]) -> None:
    names = {"psi": "psi", "ks": "ks", "js_divergence": "js"}
    for row in rows:
        col = row["column"]
        for key, name in names.items():
            if key in row:
                out[f"{prefix}{name}:{col}"] = row[key]
        if not prefix:
            if "new_category_rate" in row:
                out[f"new_category_rate:{col}"] = row["new_category_rate"]
            if "p_value" in row:
                out[f"chi_squared_p:{col}"] = row["p_value"]


def _null_metrics(ref: DatasetStatistics, inputs: list[str], out: dict[str, Any]) -> None:
    """The metric names of every feature, as None: an empty window still lists them."""
    for name in inputs:
        col = ref.columns.get(name)
        if col is None:
            continue
        numeric = col.kind in ("numeric", "datetime")
        keys = ("psi", "ks", "js") if numeric else ("psi", "js", "new_category_rate")
        for key in keys:
            out[f"{key}:{name}"] = None


def _compare(
    ref: DatasetStatistics, cur: DatasetStatistics, only: list[str]
) -> list[dict[str, Any]]:
    subset = DatasetStatistics()
    subset._columns = {n: c for n, c in ref.columns.items() if n in only}
    return [r for r in drift.compare(subset, cur) if not r.get("new")]


def _prediction_summary(stats: DatasetStatistics, column: str) -> dict[str, Any]:
    col = stats.columns.get(column)
    if col is None or col.count - col.nulls == 0 or col.kind not in ("numeric", "boolean"):
        return {}
    out: dict[str, Any] = {"column": column, "mean": col.mean}
    if col.kind == "numeric":
        out["deciles"] = col.quantiles([i / 10 for i in range(1, 10)])
    return out


def build_report(
    stats: WindowStats, *, ref: str, start: float, end: float, metric_names: list[str] | None = None
) -> DriftReport:
    """The report of a finished window (see the module docstring)."""
    reference = stats.reference
    report = DriftReport(
        model=reference.name,
        ref=ref,
        version=reference.version,
        start=start,
        end=end,
        rows=stats.rows,
        versions=dict(stats.versions),
        notes=list(stats.notes),
    )
    m: dict[str, Any] = {"rows": stats.rows, "served_rows": stats.ok}
    total = stats.rows
    m["schema_violation_rate"] = stats.schema_violations / total if total else math.nan
    m["error_rate"] = stats.errors / total if total else math.nan
    m.update(stats.latency_percentiles())
    if total == 0:
        report.notes.append("no traffic in this window: nothing to compare")
    elif stats.ok == 0:
        report.notes.append("no request in this window was answered: no drift computed")
    elif stats.ok == 1:
        report.notes.append("one row in this window: drift statistics are not meaningful")
    if reference.training is None:
        report.notes.append("the bundle has no training statistics: no feature drift")
    elif stats.ok:
        report.features = _compare(reference.training, stats.inputs, reference.inputs)
        for row in report.features:
            if row.get("drifted"):
                col = row["column"]
                report.histograms[col] = _histogram(
                    reference.training.columns[col], stats.inputs.columns[col]
                )
    _metric_rows(report.features, "", m)
    if reference.training is not None and not report.features:
        _null_metrics(reference.training, reference.inputs, m)
    m["drifted_features"] = (
        len(report.drifted_features) if report.features else (0 if stats.ok else math.nan)
    )
    main = score_column(reference.task)
    if reference.predictions is None:
        report.notes.append("the bundle has no prediction statistics: no prediction drift")
    elif stats.ok:
        report.predictions = _compare(
            reference.predictions, stats.predictions, list(reference.predictions.columns)
        )
    _metric_rows(report.predictions, "prediction_", m)
    m["prediction_psi"] = next(
        (r.get("psi") for r in report.predictions if r["column"] == main), math.nan
    )
    report.prediction = _prediction_summary(stats.predictions, main)
    m["prediction_mean"] = report.prediction.get("mean", math.nan)
    deciles = report.prediction.get("deciles") or [math.nan] * 9
    m["prediction_p10"], m["prediction_p50"], m["prediction_p90"] = (
        deciles[0],
        deciles[4],
        deciles[8],
    )
    if reference.features is None:
        report.notes.append(
            "the bundle has no statistics/features.json (registered before it existed):"
            " no training-serving skew"
        )
    elif stats.ok:
        report.skew = _compare(reference.features, stats.features, list(reference.features.columns))
        if stats.skew_stride > 1:
            report.notes.append(
                f"training-serving skew from every {stats.skew_stride}th row"
                f" ({stats.features.num_rows:,} rows)"
            )
        for row in report.skew:
            m[f"skew_psi:{row['column']}"] = row.get("psi")
    _add_label_metrics(stats, report, m, metric_names)
    report.metrics = {k: (None if v is None else float(v)) for k, v in m.items()}
    report.metrics = _clean(report.metrics)
    return report


def label_metrics(stats: WindowStats, names: list[str] | None = None) -> dict[str, Any]:
    """Only the label metrics of a window (``label_files``, ``label_rows`` and the metrics)."""
    scratch = DriftReport(model="", ref="", version="", start=0.0, end=0.0, rows=0)
    m: dict[str, Any] = {}
    _add_label_metrics(stats, scratch, m, names)
    return m


def _add_label_metrics(
    stats: WindowStats, report: DriftReport, m: dict[str, Any], names: list[str] | None
) -> None:
    from ..evaluate.metrics import compute_metrics

    if stats.labels is not None:
        m["label_files"] = stats.labels.files
    pairs = stats.labelled()
    if pairs is None:
        return
    y, scores = pairs
    m["label_rows"] = len(y)
    task = stats.reference.task
    threshold = stats.reference.threshold if task == "binary" else None
    try:
        values = compute_metrics(
            task, y, scores, metrics=names, threshold=0.5 if threshold is None else threshold
        )
    except ValueError as exc:
        report.notes.append(f"label metrics not computed: {exc}")
        return
    report.labels = {"rows": len(y), "metrics": _clean(values)}
    m.update(values)
