"""Crash safety and concurrency with real processes: kill -9, resume, two runs at once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from ..conftest import SHIPYARD, cli, write

SLOW = """
import os, time
from pathlib import Path
import numpy as np
from shipyard import pipeline, step

@step
def prepare(n: int = 200_000) -> np.ndarray:
    return np.arange(n, dtype="float64")

@step
def crunch(x: np.ndarray, marker: str = "started") -> np.ndarray:
    Path(marker).write_text(str(os.getpid()))
    if os.environ.get("SLOW"):
        time.sleep(60)
    return x * 2

@step
def summarize(x: np.ndarray) -> float:
    return float(x.sum())

@pipeline
def p(marker: str = "started"):
    summarize(crunch(prepare(), marker=marker))
"""


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_kill_9_mid_step_then_resume(project_dir: Path) -> None:
    write(project_dir, "slow.py", SLOW)
    marker = project_dir / "started"
    proc = subprocess.Popen(
        [SHIPYARD, "run", "slow.py:p", "--param", f"marker={marker}"],
        cwd=project_dir,
        env={**os.environ, "SLOW": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(marker)
    worker_pid = int(marker.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _alive(worker_pid):  # the worker dies with its engine (PR_SET_PDEATHSIG)
        assert time.monotonic() < deadline, "the worker outlived the killed engine"
        time.sleep(0.05)

    db = project_dir / ".shipyard" / "metadata.db"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    run_id, status = con.execute("SELECT id, status FROM runs").fetchone()
    assert status == "running"
    con.close()

    marker.unlink()
    r = cli("run", "--resume", run_id[:8], "--json", cwd=project_dir)
    assert r.returncode == 0, r.stderr
    resumed = json.loads(r.stdout)
    assert resumed["id"] == run_id and resumed["status"] == "succeeded"
    nodes = [(s["node"], s["status"]) for s in resumed["steps"]]
    assert nodes.count(("prepare", "succeeded")) == 1, nodes
    assert ("crunch", "running") in nodes and ("crunch", "succeeded") in nodes

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    recorded = {r[0] for r in con.execute("SELECT digest FROM artifacts")}
    con.close()
    arts = project_dir / ".shipyard" / "artifacts"
    stored = {p.name for p in (arts / "objects").glob("*/*")}
    assert stored == recorded, "every stored folder has its row and every row its folder"
    assert all((arts / "objects" / d[:2] / d / "_manifest.json").exists() for d in stored)
    assert not any((arts / ".tmp").iterdir()), "no staging leftovers after resume"


FAST = """
from shipyard import pipeline, step

@step
def a(i: int) -> int:
    return i

@step
def b(x: int) -> int:
    return x * 10

@pipeline
def p(i: int = 0):
    b(a(i))
"""


def test_two_runs_at_once_on_one_store(project_dir: Path) -> None:
    write(project_dir, "fast.py", FAST)
    procs = [
        subprocess.Popen(
            [SHIPYARD, "run", "fast.py:p", "--param", f"i={i}", "--json"],
            cwd=project_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out))
    assert {o["name"] for o in outs} == {"p-1", "p-2"}
    listed = json.loads(cli("runs", "--json", cwd=project_dir).stdout)
    assert len(listed) == 2 and all(r["status"] == "succeeded" for r in listed)
    for o in outs:
        shown = json.loads(cli("show", o["id"], "--json", cwd=project_dir).stdout)
        assert [s["status"] for s in shown["steps"]] == ["succeeded", "succeeded"]


MANY = """
import numpy as np
from shipyard import pipeline, step

@step
def make(i: int, size: int) -> np.ndarray:
    return np.full(size, i, dtype="int64")

@step
def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a + b

@pipeline
def p(size: int = 200_000, seed_offset: int = 0):
    parts = [make(i + seed_offset, size) for i in range(24)]
    while len(parts) > 1:
        parts = [add(parts[k], parts[k + 1]) for k in range(0, len(parts) - 1, 2)] + (
            [parts[-1]] if len(parts) % 2 else []
        )
"""


def _executions(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(con.execute("SELECT COUNT(*) FROM executions").fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        con.close()


def _check_store(project_dir: Path) -> set[str]:
    """The invariants a kill -9 must never break; returns the digests with rows."""
    from shipyard.store.artifacts import verify_folder

    db = project_dir / ".shipyard" / "metadata.db"
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        rows = {r[0] for r in con.execute("SELECT digest FROM artifacts")}
        events = {r[0] for r in con.execute("SELECT artifact FROM events")}
    finally:
        con.close()
    objects = project_dir / ".shipyard" / "artifacts" / "objects"
    stored = {p.name: p for p in objects.glob("*/*")} if objects.exists() else {}
    assert rows <= set(stored), "an artifact row without its files"
    assert events <= rows
    for digest, folder in stored.items():
        verify_folder(folder, digest)  # complete and uncorrupted, or not there at all
    return rows


def test_kill_9_at_random_points_never_corrupts_the_store(project_dir: Path) -> None:
    import random

    write(project_dir, "many.py", MANY)
    rng = random.Random(1234)
    db = project_dir / ".shipyard" / "metadata.db"
    for attempt in range(6):
        before = _executions(db)
        proc = subprocess.Popen(
            [SHIPYARD, "run", "many.py:p", "--param", f"seed_offset={attempt}", "--no-cache"],
            cwd=project_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill once the run is k steps in (k random), plus a random few milliseconds, so
        # that the kills land at different points whatever the machine's load.
        k = rng.randint(1, 40)
        deadline = time.monotonic() + 60
        while _executions(db) < before + k and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(0.2)  # let the workers' death signal land
        _check_store(project_dir)
    con = sqlite3.connect(project_dir / ".shipyard" / "metadata.db")
    unfinished = [r[0] for r in con.execute("SELECT id FROM runs WHERE status = 'running'")]
    con.close()
    assert unfinished, "at least one run should have been killed mid-way"
    resumed = cli("run", "--resume", unfinished[-1], "--json", cwd=project_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    cli("gc", "--older-than", "0", cwd=project_dir)  # removes orphans left between write and record
    rows = _check_store(project_dir)
    objects = project_dir / ".shipyard" / "artifacts" / "objects"
    assert {p.name for p in objects.glob("*/*")} == rows
