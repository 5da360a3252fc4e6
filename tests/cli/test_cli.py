"""The real ``shipyard`` command in a temporary project, as a user types it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ..conftest import artifact_files, cli, write

PIPE = """
import shipyard
from shipyard import pipeline, step

@step
def make(n: int = 3) -> list:
    return list(range(n))

@step
def total(xs: list, scale: float = 1.0) -> shipyard.Metrics:
    return shipyard.Metrics(total=sum(xs) * scale)

@pipeline
def p(n: int = 3, scale: float = 1.0):
    total(make(n), scale=scale)
"""


@pytest.fixture
def proj(project_dir: Path) -> Path:
    write(project_dir, "pipe.py", PIPE)
    return project_dir


def _run_json(proj: Path, *args: str) -> dict:
    r = cli("run", "pipe.py:p", *args, "--json", cwd=proj)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_run_then_cached_rerun(proj: Path) -> None:
    first = cli("run", "pipe.py:p", "--param", "n=4", cwd=proj)
    assert first.returncode == 0, first.stderr
    assert "2 step(s) ran, 0 cached" in first.stdout and "total=6" in first.stdout
    second = _run_json(proj, "--param", "n=4")
    assert [s["cache_hit"] for s in second["steps"]] == [True, True]
    assert second["metrics"] == {"total": 6.0} or second["metrics"] == {}
    assert second["params"] == {"n": 4, "scale": 1.0}


def test_runs_show_compare(proj: Path) -> None:
    a = _run_json(proj, "--param", "n=2", "--tag", "team=ml")
    b = _run_json(proj, "--param", "n=5", "--name", "big")
    listed = json.loads(cli("runs", "--json", cwd=proj).stdout)
    assert [r["name"] for r in listed] == ["big", "p-1"]
    tagged = json.loads(cli("runs", "--tag", "team=ml", "--json", cwd=proj).stdout)
    assert [r["id"] for r in tagged] == [a["id"]]
    filtered = json.loads(cli("runs", "--filter", "metrics.total > 5", "--json", cwd=proj).stdout)
    assert [r["id"] for r in filtered] == [b["id"]]
    shown = json.loads(cli("show", a["id"][:8], "--json", cwd=proj).stdout)
    assert shown["id"] == a["id"] and shown["tags"] == {"team": "ml"}
    text = cli("show", "big", cwd=proj).stdout
    assert "big" in text and "make" in text and "total" in text
    cmp = json.loads(cli("compare", a["id"][:8], "big", "--json", cwd=proj).stdout)
    assert cmp["rows"]["params.n"] == {"values": [2, 5], "differs": True}
    assert cmp["rows"]["params.scale"]["differs"] is False
    table = cli("compare", a["id"][:8], "big", cwd=proj)
    assert table.returncode == 0 and "params.n" in table.stdout


def test_lineage_of_a_run_and_an_artifact(proj: Path) -> None:
    run = _run_json(proj)
    lin = json.loads(cli("lineage", f"run:{run['id'][:8]}", "--json", cwd=proj).stdout)
    root = lin["roots"][0]
    assert root["upstream"][0]["label"].startswith("step total")
    make_out = run["steps"][0]["outputs"]["output"]
    lin2 = json.loads(cli("lineage", f"artifact:{make_out[:10]}", "--json", cwd=proj).stdout)
    assert lin2["roots"][0]["downstream"][0]["label"].startswith("step total")
    assert "upstream" in cli("lineage", f"artifact:{make_out[:10]}", cwd=proj).stdout


def test_bad_input_exits_2_without_a_traceback_and_writes_nothing(proj: Path) -> None:
    cli("run", "pipe.py:p", cwd=proj)
    db = proj / ".shipyard" / "metadata.db"
    before = _counts(db)
    arts = artifact_files(proj)
    for args in (
        ("run", "pipe.py:p", "--param", "n=abc"),
        ("run", "pipe.py:p", "--param", "nn=3"),
        ("run", "pipe.py:nope"),
        ("run", "missing.py:p"),
        ("show", "no-such-run"),
        ("lineage", "artifact:XYZ"),
    ):
        r = cli(*args, cwd=proj)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    assert _counts(db) == before and artifact_files(proj) == arts


def test_bad_config_names_file_line_and_field(proj: Path) -> None:
    cli("run", "pipe.py:p", cwd=proj)
    db = proj / ".shipyard" / "metadata.db"
    before = _counts(db)
    (proj / "shipyard.yaml").write_text("project:\n  name: proj\nexecutor:\n  workers: zero\n")
    r = cli("run", "pipe.py:p", cwd=proj)
    assert r.returncode == 2
    assert "shipyard.yaml:4" in r.stderr and "executor.workers" in r.stderr
    assert "Traceback" not in r.stderr
    assert _counts(db) == before
    debug = cli("--debug", "run", "pipe.py:p", cwd=proj)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_a_failing_step_exits_1_and_names_step_log_and_resume(proj: Path) -> None:
    write(proj, "bad.py", PIPE.replace("return list(range(n))", "raise KeyError('col')"))
    r = cli("run", "bad.py:p", cwd=proj)
    assert r.returncode == 1
    assert "step 'make' failed: KeyError" in r.stderr
    assert "its log:" in r.stderr and "shipyard run --resume" in r.stderr


def test_reproduce_reports_identical_then_names_the_changed_file(proj: Path) -> None:
    write(
        proj,
        "files.py",
        """
        from pathlib import Path
        from shipyard import pipeline, step

        @step
        def read(path: Path) -> str:
            return path.read_text().upper()

        @step
        def count(text: str) -> int:
            return len(text)

        @pipeline
        def p(path: Path = Path("data.txt")):
            count(read(path))
        """,
    )
    (proj / "data.txt").write_text("hello")
    run = json.loads(cli("run", "files.py:p", "--json", cwd=proj).stdout)
    same = cli("reproduce", run["id"][:8], "--json", cwd=proj)
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["identical"] is True
    (proj / "data.txt").write_text("hello, world")
    diff = cli("reproduce", run["id"][:8], cwd=proj)
    assert diff.returncode == 1
    assert "input file data.txt changed" in diff.stdout and "NOT reproduced" in diff.stdout


def test_gc_removes_only_unreferenced_artifacts(proj: Path) -> None:
    from shipyard.pipeline.materializers import save_value
    from shipyard.store.artifacts import LocalArtifactStore

    run = _run_json(proj)
    orphan = save_value({"left": "behind"}, LocalArtifactStore(proj / ".shipyard" / "artifacts"))
    dry = json.loads(cli("gc", "--older-than", "0", "--dry-run", "--json", cwd=proj).stdout)
    assert dry["deleted"] == [orphan["digest"]]
    kept = json.loads(cli("gc", "--json", cwd=proj).stdout)
    assert kept["deleted"] == [] and kept["kept_recent"] == 1
    done = json.loads(cli("gc", "--older-than", "0", "--json", cwd=proj).stdout)
    assert done["deleted"] == [orphan["digest"]]
    assert not (
        proj / ".shipyard" / "artifacts" / "objects" / orphan["digest"][:2] / orphan["digest"]
    ).exists()
    again = _run_json(proj)
    assert all(s["cache_hit"] for s in again["steps"]) and again["id"] != run["id"]


def test_init_scaffolds_a_project_that_runs(tmp_path: Path) -> None:
    r = cli("init", "newproj", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "newproj"
    assert {p.name for p in folder.iterdir()} >= {"shipyard.yaml", "pipeline.py", ".gitignore"}
    ran = cli("run", cwd=folder)  # the pipeline comes from shipyard.yaml
    assert ran.returncode == 0, ran.stderr
    assert "slope=" in ran.stdout
    again = cli("init", "newproj", cwd=tmp_path)
    assert again.returncode == 2 and "already exist" in again.stderr


def test_project_root_is_found_from_a_subfolder(proj: Path) -> None:
    sub = proj / "notebooks" / "deep"
    sub.mkdir(parents=True)
    r = cli("run", "../../pipe.py:p", "--json", cwd=sub)
    assert r.returncode == 0, r.stderr
    assert (proj / ".shipyard" / "metadata.db").exists()
    assert not (sub / ".shipyard").exists()


def test_config_show_masks_secrets(proj: Path) -> None:
    (proj / "shipyard.yaml").write_text(
        "project:\n  name: proj\nstore:\n  url: postgresql://u:${DB_PASSWORD}@127.0.0.1/db\n"
    )
    r = cli("config", "show", "--json", cwd=proj, env={"DB_PASSWORD": "s3cr3t-value"})
    assert r.returncode == 0, r.stderr
    assert "s3cr3t-value" not in r.stdout and "***" in r.stdout


def _counts(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        con.close()


def test_numpy_imported_inside_a_step_is_seeded(proj: Path) -> None:
    """The CLI engine has no NumPy loaded; a step that imports it must still be seeded."""
    write(
        proj,
        "lazy.py",
        """
        from shipyard import pipeline, step

        @step
        def draw() -> float:
            import numpy as np
            return float(np.random.rand())

        @pipeline
        def p():
            draw()
        """,
    )

    def value(*args: str) -> str:
        out = json.loads(cli("run", "lazy.py:p", "--no-cache", "--json", *args, cwd=proj).stdout)
        return str(out["steps"][0]["outputs"]["output"])

    assert value() == value()
    assert value("--seed", "3") != value()
