"""The monitor's drift report over a window of 1,000,000 logged predictions with 30 features.

Builds, in a temporary project: a 100,000-row reference (25 numeric and 5
categorical columns) ingested, a transform fitted and a small XGBoost model
registered as ``bench@production`` (its bundle holds the training, prediction
and transformed-feature statistics); then 1,000,000 rows of the same
distribution with three columns shifted, predicted by the server's
``ServedModel`` and written by the server's own ``PredictionLog`` (requests of
100 rows, a file every 100,000 rows). Each figure is measured in a fresh
child process (its own peak RSS):

- raw read: ``pyarrow.parquet.read_table`` of every log file (all columns);
- Shipyard: ``run_monitor`` of the whole window (one window of 1,000,000 rows,
  ``html=False``): read, statistics of inputs, transformed features and
  predictions, drift, the JSON report stored as an artifact and its row;
- HTML: rendering the window's page and ``report.html`` from the stored report;
- Evidently (if ``/work/peers/evidently/bin/python`` exists): its data-drift
  preset on the same window (pandas from the same Parquet files) against the
  same 100,000-row reference, run with that venv's python.

Goal (issue 7): Shipyard's statistics and JSON report within 3x the raw read.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _report import print_table

GOAL_RATIO = 3.0
EVIDENTLY_PY = Path("/work/peers/evidently/bin/python")
NUMERIC, CATEGORICAL = 25, 5
SHIFTED = ("x00", "x01", "c0")
YAML = "project:\n  name: bench\nregister:\n  model_name: bench\nmonitor:\n  window:\n    rows: {rows}\n"


def _table(n: int, seed: int, shift: bool) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {"id": pa.array(np.arange(n).astype(str))}
    for i in range(NUMERIC):
        mean = 1.0 if shift and f"x{i:02d}" in SHIFTED else 0.0
        cols[f"x{i:02d}"] = rng.normal(mean, 1.0 + 0.1 * i, n)
    for i in range(CATEGORICAL):
        values = [f"v{j}" for j in range(8 + i)]
        p = np.full(len(values), 1.0 / len(values))
        if shift and f"c{i}" in SHIFTED:
            p = np.linspace(2.0, 0.1, len(values))
            p /= p.sum()
        cols[f"c{i}"] = rng.choice(values, n, p=p)
    logit = cols["x00"] - 0.5 * cols["x01"] + (cols["c0"] == "v0") * 1.0
    cols["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pa.table(cols)


def build(root: Path, reference_rows: int, window_rows: int) -> dict[str, Any]:
    """The project, the registered model and the logged window; return what was made."""
    import numpy as np
    import pyarrow.parquet as pq
    import xgboost

    from shipyard.bundle import load_bundle
    from shipyard.data import ingest
    from shipyard.pipeline.project import Project
    from shipyard.registry import Registry
    from shipyard.registry.steps import register_model
    from shipyard.serve._log import PredictionLog
    from shipyard.serve._model import ServedModel
    from shipyard.train.model import TrainedModel
    from shipyard.transform import fit_transform, plan_features

    root.mkdir(parents=True, exist_ok=True)
    (root / "shipyard.yaml").write_text(YAML.format(rows=window_rows))
    pq.write_table(_table(reference_rows, 0, False), root / "reference.parquet")
    (root / "ingested").mkdir()
    result = ingest(
        {"path": "reference.parquet"},
        root / "ingested",
        root=root,
        splits={"method": "random", "train": 0.8, "eval": 0.2},
        key="id",
        target="y",
    )
    dataset = result.dataset
    transform = fit_transform(
        plan_features({}, dataset.schema, target="y", key="id"),
        dataset,
        statistics=result.statistics,
    )
    xs, ys = [], []
    for x, batch in transform.iter_features(dataset, "train"):
        xs.append(x)
        ys.append(batch.column("y").to_numpy())
    clf = xgboost.XGBClassifier(n_estimators=30, max_depth=4, n_jobs=2)
    clf.fit(np.concatenate(xs), np.concatenate(ys))
    model = TrainedModel(
        model=clf.get_booster(),
        algorithm="xgboost",
        framework="xgboost",
        framework_version=xgboost.__version__,
        task="binary",
        num_classes=2,
        feature_names=transform.feature_names,
    )
    # The register step itself, called outside a pipeline, as a run registers a model.
    register_model(
        model,
        transform,
        {"verdict": {"blessed": True}, "threshold": 0.5},
        register={"model_name": "bench", "alias": "production"},
        dataset=dataset,
        statistics=result.statistics,
        key="id",
        root=str(root),
    )
    project = Project.discover(root)
    try:
        version = Registry(project).get("bench@production")
        bundle = load_bundle(project.artifacts.path(version.artifact))
    finally:
        project.close()
    served = ServedModel(bundle, "1", threads=2)
    window = _table(window_rows, 1, True)
    log = PredictionLog(
        root / ".shipyard" / "predictions", queue_size=1_000_000, flush_s=3600, max_rows=100_000
    )
    inputs = window.select(served.signature.names)
    for start in range(0, window_rows, 100_000):
        chunk = inputs.slice(start, 100_000)
        out = served.predict([{n: chunk.column(n).combine_chunks() for n in chunk.column_names}])
        for i in range(0, chunk.num_rows, 100):
            part = chunk.slice(i, 100)
            log.answered(
                served,
                f"r{start + i}",
                {n: part.column(n).combine_chunks() for n in part.column_names},
                out.slice(i, 100),
                2.0,
            )
    log.close(timeout=600)
    files = sorted((root / ".shipyard" / "predictions").glob("*.parquet"))
    return {
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "rows": sum(pq.read_metadata(f).num_rows for f in files),
    }


# -- the measured parts, each in its own process ---------------------------------------------


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def measure_raw(root: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    files = sorted((root / ".shipyard" / "predictions").glob("*.parquet"))
    for f in files:  # warm-up: the same page cache and loaded code as Shipyard's timed run
        pq.read_table(f)
    t0 = time.perf_counter()
    rows = sum(pq.read_table(f).num_rows for f in files)
    return {"seconds": time.perf_counter() - t0, "rows": rows, "rss_mb": _maxrss_mb()}


def measure_shipyard(root: Path) -> dict[str, Any]:
    from shipyard.monitor import run_monitor
    from shipyard.monitor._store import list_windows
    from shipyard.monitor.html import render_history, render_window
    from shipyard.pipeline.project import Project

    project = Project.discover(root)
    try:
        t0 = time.perf_counter()
        run_monitor(project, "bench@production", partial=True, html=False)  # warm-up
        first_s = time.perf_counter() - t0
        _reset(root)
        t0 = time.perf_counter()
        [window] = run_monitor(project, "bench@production", partial=True, html=False)
        seconds = time.perf_counter() - t0
        rss = _maxrss_mb()
        assert window.report is not None
        t1 = time.perf_counter()
        page = render_window(window.report, window.window_id)
        history = render_history("bench", list_windows(project.metadata, "bench"))
        html_s = time.perf_counter() - t1
    finally:
        project.close()
    return {
        "seconds": seconds,
        "first_call_s": first_s,
        "rows": window.rows,
        "rss_mb": rss,
        "html_seconds": html_s,
        "html_bytes": len(page) + len(history),
        "drifted": window.drifted_features,
        "prediction_psi": window.metrics.get("prediction_psi"),
    }


_EVIDENTLY = """
import json, resource, sys, time
import pandas as pd, pyarrow.parquet as pq, glob
ref = pq.read_table(sys.argv[1]).to_pandas()
files = sorted(glob.glob(sys.argv[2] + "/*.parquet"))
cols = [c for c in ref.columns if c not in ("id", "y")]
t0 = time.perf_counter()
cur = pd.concat([pq.read_table(f, columns=cols).to_pandas() for f in files], ignore_index=True)
ref = ref[cols]
try:
    from evidently import Report
    from evidently.presets import DataDriftPreset
    snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    text = snap.json()
except ImportError:
    from evidently.report import Report
    from evidently.metric_preset import DataDriftPreset
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=ref, current_data=cur)
    text = report.json()
seconds = time.perf_counter() - t0
import evidently
print(json.dumps({"seconds": seconds, "rows": len(cur), "version": evidently.__version__,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6}))
"""


def measure_evidently(root: Path) -> dict[str, Any]:
    if not EVIDENTLY_PY.is_file():
        return {"skipped": f"no Evidently venv at {EVIDENTLY_PY.parent.parent}"}
    script = root / "evidently_drift.py"
    script.write_text(_EVIDENTLY)
    done = subprocess.run(
        [
            str(EVIDENTLY_PY),
            str(script),
            str(root / "reference.parquet"),
            str(root / ".shipyard" / "predictions"),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        return {"skipped": f"Evidently failed: {done.stderr.strip().splitlines()[-1:]}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _child(what: str, root: Path, *more: str) -> dict[str, Any]:
    """Run one part in a fresh process (the parent stays small: children's peak RSS is theirs)."""
    done = subprocess.run(
        [sys.executable, __file__, "--measure", what, "--root", str(root), *more],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _reset(root: Path) -> None:
    """Forget the stored window, so that the next measurement reads the same rows again."""
    from shipyard.pipeline.project import Project

    project = Project.discover(root)
    try:
        with project.metadata.write() as conn:
            conn.exec_driver_sql("DELETE FROM monitor_windows")
    finally:
        project.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the window")
    parser.add_argument("--reference", type=int, default=100_000, help="rows of the reference")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (the median)")
    parser.add_argument("--no-evidently", action="store_true", help="skip Evidently")
    parser.add_argument(
        "--measure",
        choices=["build", "reset", "raw", "shipyard", "evidently"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        if args.measure == "reset":
            _reset(args.root)
            print("{}")
            return 0
        if args.measure == "build":
            print(json.dumps(build(args.root, args.reference, args.rows)))
            return 0
        fn = {"raw": measure_raw, "shipyard": measure_shipyard, "evidently": measure_evidently}
        print(json.dumps(fn[args.measure](args.root)))
        return 0

    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) / 2:
        print(f"note: load average {load:.1f} at the start; figures will be slower")
    root = Path(tempfile.mkdtemp(prefix="shipyard-bench-monitor-"))
    try:
        t0 = time.perf_counter()
        made = _child("build", root, "--rows", str(args.rows), "--reference", str(args.reference))
        print(
            f"built in {time.perf_counter() - t0:.0f} s: {made['rows']:,} logged rows in"
            f" {made['files']} files ({made['bytes'] / 1e6:.0f} MB),"
            f" {NUMERIC + CATEGORICAL} features, reference {args.reference:,} rows"
        )
        raws, ships = [], []
        for _ in range(args.repeat):
            raws.append(_child("raw", root))
            _child("reset", root)
            ships.append(_child("shipyard", root))
        evidently = (
            {"skipped": "--no-evidently"} if args.no_evidently else _child("evidently", root)
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def median(xs: list[dict[str, Any]], key: str) -> float:
        values = sorted(x[key] for x in xs)
        return float(values[len(values) // 2])

    raw_s, ship_s = median(raws, "seconds"), median(ships, "seconds")
    html_s = median(ships, "html_seconds")
    ratio = ship_s / raw_s
    rows = [
        ["what", "seconds", "x raw read", "peak RSS MB"],
        [
            "raw read (pyarrow, all files)",
            f"{raw_s:.2f}",
            "1.0",
            f"{max(r['rss_mb'] for r in raws):.0f}",
        ],
        [
            "Shipyard statistics + JSON report",
            f"{ship_s:.2f}",
            f"{ratio:.1f}",
            f"{max(s['rss_mb'] for s in ships):.0f}",
        ],
        ["Shipyard HTML (window + history)", f"{html_s:.2f}", f"{html_s / raw_s:.1f}", "-"],
        [
            "Shipyard first call (imports, bundle load)",
            f"{median(ships, 'first_call_s'):.2f}",
            f"{median(ships, 'first_call_s') / raw_s:.1f}",
            "-",
        ],
    ]
    if "seconds" in evidently:
        rows.append(
            [
                f"Evidently {evidently['version']} data drift",
                f"{evidently['seconds']:.1f}",
                f"{evidently['seconds'] / raw_s:.1f}",
                f"{evidently['rss_mb']:.0f}",
            ]
        )
    print_table(rows)
    if "skipped" in evidently:
        print(f"Evidently skipped: {evidently['skipped']}")
    print(f"drifted features found: {ships[0]['drifted']} (shifted: {list(SHIFTED)})")
    verdict = "met" if ratio <= GOAL_RATIO else "MISSED"
    print(
        f"goal: statistics + JSON report within {GOAL_RATIO:.0f}x the raw read: {verdict}"
        f" ({ratio:.2f}x)"
    )
    print(
        json.dumps(
            {
                "rows": args.rows,
                "features": NUMERIC + CATEGORICAL,
                "reference_rows": args.reference,
                "files": made["files"],
                "raw_read_s": raw_s,
                "shipyard_s": ship_s,
                "ratio": ratio,
                "html_s": html_s,
                "shipyard_rss_mb": max(s["rss_mb"] for s in ships),
                "raw_rss_mb": max(r["rss_mb"] for r in raws),
                "evidently": evidently,
                "drifted": ships[0]["drifted"],
                "goal_met": ratio <= GOAL_RATIO,
                "load_average_start": load,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
