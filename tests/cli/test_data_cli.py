"""`shipyard data stats | schema | validate` on real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..conftest import cli


def _write(folder: Path, n: int = 2000) -> None:
    rng = np.random.default_rng(0)
    pq.write_table(
        pa.table({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n), "k": np.arange(n)}),
        folder / "d.parquet",
    )


def test_stats_table_json_and_html(project_dir: Path) -> None:
    _write(project_dir)
    r = cli("data", "stats", "d.parquet", cwd=project_dir)
    assert r.returncode == 0, r.stderr
    assert "2000 rows" in r.stdout and "x" in r.stdout
    js = json.loads(cli("data", "stats", "d.parquet", "--json", cwd=project_dir).stdout)
    rows = {row["name"]: row for row in js["all"]}
    assert rows["k"]["min"] == 0 and rows["k"]["max"] == 1999
    html = cli("data", "stats", "d.parquet", "--html", "r.html", cwd=project_dir)
    assert html.returncode == 0 and (project_dir / "r.html").is_file()


def test_schema_then_validate(project_dir: Path) -> None:
    _write(project_dir)
    assert cli("data", "schema", "d.parquet", "-O", "schema.yaml", cwd=project_dir).returncode == 0
    ok = cli("data", "validate", "d.parquet", "--schema", "schema.yaml", cwd=project_dir)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    pq.write_table(
        pa.table({"x": [1.0, None], "c": ["a", "zzz"], "k": [1, 2]}), project_dir / "new.parquet"
    )
    bad = cli(
        "data", "validate", "new.parquet", "--schema", "schema.yaml", "--json", cwd=project_dir
    )
    assert bad.returncode == 2
    found = json.loads(bad.stdout)
    assert "zzz" in json.dumps(found)


def test_bad_paths_exit_2(project_dir: Path) -> None:
    r = cli("data", "stats", "missing.csv", cwd=project_dir)
    assert r.returncode == 2 and "missing.csv" in r.stderr
    (project_dir / "e.csv").write_text("")
    r = cli("data", "stats", "e.csv", cwd=project_dir)
    assert r.returncode == 2 and "empty" in r.stderr
