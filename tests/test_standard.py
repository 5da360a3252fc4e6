"""The standard pipeline from shipyard.yaml: ingest -> schema -> validate -> report, via the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .conftest import cli


def _data(folder: Path, n: int = 3000, seed: int = 0, shift: float = 0.0) -> None:
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "id": np.arange(n),
            "temp": rng.normal(15 + shift, 5, n),
            "carrier": rng.choice(["AA", "UA", "DL"], n),
            "delay": rng.exponential(10, n),
        }
    )
    pacsv.write_csv(table, folder / "flights.csv")


YAML = """
project:
  name: flights
data:
  source:
    path: flights.csv
  target: late
  target_expr: delay > 15
  key: id
  splits:
    train: 0.7
    eval: 0.15
    test: 0.15
"""


def test_standard_pipeline_runs_and_caches(project_dir: Path) -> None:
    (project_dir / "shipyard.yaml").write_text(YAML)
    _data(project_dir)
    r = cli("run", "--json", cwd=project_dir)
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    steps = [s["node"] for s in run["steps"]]
    assert steps[:4] == ["ingest_files", "infer_data_schema", "validate_data", "data_report"]
    # A target turns on training; with no register.model_name nothing is registered.
    assert steps[4:] == ["fit_features", "train_model", "evaluate_model", "register_model"]
    m = run["metrics"]
    assert m["rows_train"] + m["rows_eval"] + m["rows_test"] == 3000
    assert abs(m["rows_train"] / 3000 - 0.7) < 0.05
    assert m["anomaly_errors"] == 0
    dataset = run["steps"][0]["outputs"]["output[0]"]
    per_split = json.loads(
        cli("data", "stats", f"artifact:{dataset[:12]}", "--json", cwd=project_dir).stdout
    )
    assert set(per_split) == {"train", "eval", "test"}
    assert sum(r["count"] for s in per_split.values() for r in s if r["name"] == "id") == 3000
    text = cli("run", cwd=project_dir)
    # evaluate and register never come from the cache: the production model may have moved.
    assert text.returncode == 0 and "6 cached" in text.stdout, text.stdout
    assert "data-report.html" in text.stdout  # the report's path is shown
    report = next(Path(p) for p in text.stdout.split() if p.endswith("data-report.html"))
    assert report.is_file() and "temp" in report.read_text()


def test_changed_data_reruns_ingest_and_a_pinned_schema_catches_bad_rows(project_dir: Path) -> None:
    (project_dir / "shipyard.yaml").write_text(YAML)
    _data(project_dir)
    schema = cli("data", "schema", "flights.csv", "--output", "schema.yaml", cwd=project_dir)
    assert schema.returncode == 0, schema.stderr
    text = (project_dir / "schema.yaml").read_text()
    assert "carrier" in text and "AA" in text
    (project_dir / "shipyard.yaml").write_text(YAML + "  schema: schema.yaml\n")
    ok = cli("run", "--json", cwd=project_dir)
    assert ok.returncode == 0, ok.stderr
    # New data with a carrier outside the pinned domain: the run stops and names it.
    rng = np.random.default_rng(1)
    bad = pa.table(
        {
            "id": np.arange(100),
            "temp": rng.normal(15, 5, 100),
            "carrier": ["ZZ"] * 100,
            "delay": rng.exponential(10, 100),
        }
    )
    pacsv.write_csv(bad, project_dir / "flights.csv")
    failed = cli("run", cwd=project_dir)
    assert failed.returncode == 1
    assert "carrier" in failed.stderr and "ZZ" in failed.stderr, failed.stderr
    assert "validate_data" in failed.stderr


def test_no_data_section_is_a_clear_error(project_dir: Path) -> None:
    r = cli("run", cwd=project_dir)
    assert r.returncode == 2 and "data" in r.stderr and "pipeline" in r.stderr


def test_a_failed_ingestion_writes_nothing_to_the_stores(project_dir: Path) -> None:
    (project_dir / "shipyard.yaml").write_text(YAML)
    _data(project_dir)
    assert cli("run", cwd=project_dir).returncode == 0
    store = project_dir / ".shipyard" / "artifacts"
    before = {p.relative_to(store) for p in (store / "objects").rglob("*")}
    lines = (project_dir / "flights.csv").read_text().splitlines()
    lines.insert(500, lines[500] + ",extra,fields")  # a ragged row
    (project_dir / "flights.csv").write_text("\n".join(lines) + "\n")
    r = cli("run", cwd=project_dir)
    assert r.returncode == 1
    assert "flights.csv:" in r.stderr and "ingest_files" in r.stderr, r.stderr
    assert {p.relative_to(store) for p in (store / "objects").rglob("*")} == before
    assert not any((store / ".tmp").iterdir()), "no scratch or staging left behind"
