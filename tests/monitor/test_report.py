"""The DriftReport of a window: drift against scipy, negative control, skew, health, one row."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as sps

from shipyard.monitor import run_monitor
from shipyard.monitor.report import DriftReport
from shipyard.pipeline.project import Project
from shipyard.validate.drift import chi_squared, ks, psi
from shipyard.validate.stats import compute_statistics

from .conftest import CITIES, make_table, write_log
from .test_windows import _project


def _run(root: Path, *, partial: bool = True) -> DriftReport:
    project = _project(root, {"rows": 1_000_000})
    try:
        results = run_monitor(project, "loans@production", partial=partial)
    finally:
        project.close()
    assert len(results) == 1
    assert results[0].report is not None
    return results[0].report


def test_held_out_rows_of_the_training_distribution_flag_nothing(monitored: Path) -> None:
    """Negative control: fresh rows from the training distribution, no feature drifts."""
    write_log(monitored, make_table(3000, 11), request_rows=50)
    report = _run(monitored)
    assert report.rows == 3000 and report.drifted_features == []
    for name in ("income", "age", "debt", "city"):
        assert report.metrics[f"psi:{name}"] is not None
        assert report.metrics[f"psi:{name}"] < 0.1, name
    assert report.metrics["prediction_psi"] < 0.1
    assert report.skew is not None and all((r["psi"] or 0) < 0.1 for r in report.skew)
    assert report.metrics["drifted_features"] == 0
    assert report.metrics["error_rate"] == 0 and report.metrics["schema_violation_rate"] == 0


def test_shifted_feature_and_new_categories_are_flagged(monitored: Path) -> None:
    write_log(
        monitored,
        make_table(3000, 12, shift=1.5, cities=[*CITIES, "mars"]),
        request_rows=50,
        refused=30,
    )
    report = _run(monitored)
    assert set(report.drifted_features) == {"income", "city"}  # a fifth of cities are new
    assert report.metrics["psi:age"] < 0.1 and report.metrics["psi:debt"] < 0.1
    assert report.metrics["psi:income"] > 0.2
    assert report.metrics["ks:income"] > 0.4
    assert report.metrics["new_category_rate:city"] == pytest.approx(0.2, abs=0.03)
    assert report.metrics["prediction_psi"] > 0.1  # income drives the score
    assert any(k.startswith("skew_psi:") and (v or 0) > 0.2 for k, v in report.metrics.items())
    assert report.metrics["schema_violation_rate"] == pytest.approx(30 / 3030)
    assert report.metrics["latency_p99_ms"] is not None
    assert report.histograms["income"]["kind"] == "numeric"
    assert math.isclose(sum(report.histograms["income"]["window"]), 1.0)


def test_one_row_window_and_json_round_trip(monitored: Path) -> None:
    write_log(monitored, make_table(1, 13))
    report = _run(monitored)
    assert report.rows == 1
    assert "one row" in " ".join(report.notes)
    again = DriftReport.from_dict(report.to_dict())
    assert again.metrics == report.metrics  # no NaN: None, JSON-able


def test_sketch_drift_matches_scipy_on_known_distributions() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 50_000), rng.normal(0, 1, 50_000)
    shifted = rng.normal(0.5, 1, 50_000)
    sa = compute_statistics([pa.table({"x": a})]).columns["x"]
    sb = compute_statistics([pa.table({"x": b})]).columns["x"]
    sc = compute_statistics([pa.table({"x": shifted})]).columns["x"]
    bound = sa.quantile_error + sb.quantile_error
    assert abs(ks(sa, sb) - sps.ks_2samp(a, b).statistic) <= bound
    assert abs(ks(sa, sc) - sps.ks_2samp(a, shifted).statistic) <= bound
    assert psi(sa, sb) < 0.01 and psi(sa, sc) > 0.2
    cats = ["a", "b", "c"]
    x = rng.choice(cats, 20_000, p=[0.5, 0.3, 0.2])
    y = rng.choice(cats, 20_000, p=[0.4, 0.3, 0.3])
    cx = compute_statistics([pa.table({"c": x})]).columns["c"]
    cy = compute_statistics([pa.table({"c": y})]).columns["c"]
    table = np.array([[np.sum(x == c) for c in cats], [np.sum(y == c) for c in cats]])
    expected = sps.chi2_contingency(table, correction=False)
    got = chi_squared(cx, cy)
    assert got.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert got.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)


def test_bundle_without_feature_statistics_skips_skew_with_a_note(monitored: Path) -> None:
    from shipyard.bundle import load_bundle
    from shipyard.monitor._reference import Reference
    from shipyard.monitor._window import WindowStats
    from shipyard.monitor.report import build_report
    from shipyard.registry import Registry

    project = Project.discover(monitored)
    try:
        version = Registry(project).get("loans@production")
        bundle = load_bundle(project.artifacts.path(version.artifact))
    finally:
        project.close()
    reference = Reference.from_bundle(bundle, "1")
    reference.features = None
    stats = WindowStats(reference)
    report = build_report(stats, ref="loans@production", start=0.0, end=1.0)
    assert report.skew is None and any("features.json" in n for n in report.notes)


def test_skew_reads_every_kth_served_row_across_batches(monitored: Path) -> None:
    from shipyard.bundle import load_bundle
    from shipyard.monitor._reader import list_files, read_file
    from shipyard.monitor._reference import Reference
    from shipyard.monitor._window import WindowStats
    from shipyard.registry import Registry

    write_log(monitored, make_table(100, 7), request_rows=7, refused=5)
    project = Project.discover(monitored)
    try:
        version = Registry(project).get("loans@production")
        bundle = load_bundle(project.artifacts.path(version.artifact))
    finally:
        project.close()
    reference = Reference.from_bundle(bundle, "1")
    stats = WindowStats(reference, skew_stride=3)
    columns = [*reference.inputs, *reference.outputs]
    for file in list_files(monitored / ".shipyard" / "predictions"):
        table = read_file(file, "loans", ["1"], columns)
        for start in range(0, table.num_rows, 13):  # batches that do not divide by 3
            stats.update(table.slice(start, 13))
    assert (stats.rows, stats.ok, stats.schema_violations) == (105, 100, 5)
    assert stats.inputs.num_rows == 100 and stats.predictions.num_rows == 100
    assert stats.features.num_rows == 34  # rows 0, 3, ..., 99 of the served rows
