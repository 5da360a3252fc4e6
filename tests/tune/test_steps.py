"""The tune step in the standard pipeline, through the real `shipyard` command."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

from shipyard.pipeline.project import Project

from ..conftest import SHIPYARD, cli, write_cancer_csv
from .conftest import load_study

XGBOOST = """
project:
  name: cancer
data:
  source:
    path: cancer.csv
  target: target
train:
  algorithm: xgboost
tune:
  metric: roc_auc
  trials: 8
  workers: 2
  space:
    max_depth: {type: int, low: 2, high: 6}
    learning_rate: {type: float, low: 0.03, high: 0.3, log: true}
    num_boost_round: {type: int, low: 20, high: 60}
evaluate:
  metrics: [roc_auc, log_loss]
register:
  model_name: cancer
"""


def test_two_xgboost_workers_record_every_trial_and_a_rerun_is_cached(project_dir: Path) -> None:
    write_cancer_csv(project_dir)
    (project_dir / "shipyard.yaml").write_text(XGBOOST)
    r = cli("run", "--json", cwd=project_dir, timeout=600)
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    nodes = [s["node"] for s in run["steps"]]
    assert nodes[-5:] == [
        "fit_features",
        "tune_model",
        "train_model",
        "evaluate_model",
        "register_model",
    ]
    listed = cli("runs", "--parent", run["id"][:8], "--limit", "100", "--json", cwd=project_dir)
    trials = json.loads(listed.stdout)
    assert sorted(t["name"] for t in trials) == sorted(f"{run['name']}.trial-{n}" for n in range(8))
    states = {t["tags"]["tune.state"] for t in trials}
    assert states <= {"complete", "pruned"} and "complete" in states
    counted = sum(run["metrics"][f"tune.trials_{s}"] for s in ("complete", "pruned", "failed"))
    assert counted == 8 and run["metrics"]["tune.trials_interrupted"] == 0
    # The best trial's params went to the final model (the trainer logs what it used).
    complete = [t for t in trials if t["tags"]["tune.state"] == "complete"]
    top = max(t["metrics"]["roc_auc"] for t in complete)
    chosen = run["params"]["tune.best_params"]
    assert any(t["params"] == chosen and t["metrics"]["roc_auc"] == top for t in complete)
    for name, value in chosen.items():
        assert run["params"][name] == value
    assert run["metrics"]["tune.best_roc_auc"] == top
    text = cli("runs", "--parent", run["id"][:8], cwd=project_dir)
    assert f"{run['name']}.trial-0" in text.stdout
    # compare works on trials
    diff = cli("compare", trials[0]["id"], trials[1]["id"], "--json", cwd=project_dir)
    assert diff.returncode == 0, diff.stderr
    assert "params.max_depth" in json.loads(diff.stdout)["rows"]
    # the report: history, importances, slices and the trials, images inline
    rep = cli("tune", "report", run["id"][:8], "--json", cwd=project_dir)
    assert rep.returncode == 0, rep.stderr
    page = Path(json.loads(rep.stdout)["report"]).read_text()
    for section in ('id="history"', 'id="importances"', 'id="slices"', 'id="trials"'):
        assert section in page
    assert page.count("data:image/png;base64,") >= 3 and "<script" not in page
    # Unchanged: the tune step is a cache hit, and no trial runs again.
    again = json.loads(cli("run", "--json", cwd=project_dir, timeout=600).stdout)
    hits = {s["node"]: s["cache_hit"] for s in again["steps"]}
    assert hits["tune_model"] and hits["train_model"], hits
    project = Project.discover(project_dir)
    assert project.metadata.list_runs(parent=again["id"]) == []
    project.close()
    # Two workers cannot repeat exactly: reproduce compares the best value within a
    # tolerance (when the replay found other params), and the steps after tuning
    # differ only through it. (register_model differs in any replay: not tuning's.)
    replay = cli("reproduce", run["id"][:8], "--json", cwd=project_dir, timeout=600)
    nodes = {n["node"]: n for n in json.loads(replay.stdout)["nodes"]}
    upstream = ("ingest_files", "infer_data_schema", "validate_data", "fit_features")
    assert all(nodes[n]["compared"] == "digests" and nodes[n]["match"] for n in upstream)
    tuned = nodes["tune_model"]
    assert tuned["match"], tuned
    if tuned["compared"] == "metrics":
        assert "tune.best_roc_auc" in tuned["reasons"][0] and "within" in tuned["reasons"][0]
        assert nodes["train_model"]["compared"] in ("digests", "explained")
        assert nodes["evaluate_model"]["match"]


SLOW = """
import time
from sklearn.tree import DecisionTreeClassifier

def train(train, eval, params):
    time.sleep(0.4)
    return DecisionTreeClassifier(
        max_depth=params["max_depth"], min_samples_leaf=params["min_samples_leaf"], random_state=0
    ).fit(*train)
"""

RESUMABLE = """
project:
  name: cancer
data:
  source:
    path: cancer.csv
  target: target
train:
  algorithm: function
  function: slow_train.py:train
tune:
  metric: roc_auc
  trials: 10
  pruner: none
  space:
    max_depth: {type: int, low: 1, high: 8}
    min_samples_leaf: {type: float, low: 0.005, high: 0.2}
register:
  model_name: cancer
"""


def _trial_rows(db: Path) -> list[tuple[str, str]]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            query = "select id, status from runs where parent_id is not null"
            return conn.execute(query).fetchall()
    except sqlite3.OperationalError:  # the store is still being created
        return []


def _wait_for_no_process_in(folder: Path, timeout: float = 20) -> None:
    """Until no process but this one has ``folder`` in its command line (the trial workers)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if str(folder).encode() in (entry / "cmdline").read_bytes():
                    alive.append(entry.name)
            except OSError:
                continue
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes still running in {folder}: {alive}")


def _records(project: Project, run_id: str) -> dict[str, dict[str, object]]:
    keys = ("name", "status", "params", "tags", "metrics", "created_at", "ended_at", "error")
    return {r["id"]: {k: r[k] for k in keys} for r in project.metadata.list_runs(parent=run_id)}


def test_kill_9_mid_study_then_resume_finishes_without_repeating_a_trial(
    project_dir: Path,
) -> None:
    write_cancer_csv(project_dir)
    (project_dir / "slow_train.py").write_text(SLOW)
    (project_dir / "shipyard.yaml").write_text(RESUMABLE)
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("SHIPYARD_STORE_URL", None)
    log = project_dir / "first-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([SHIPYARD, "run"], cwd=project_dir, env=env, stdout=out, stderr=out)
    db = project_dir / ".shipyard" / "metadata.db"
    deadline = time.time() + 300
    try:
        while True:  # kill while a trial runs, after three have finished
            assert proc.poll() is None, log.read_text()
            assert time.time() < deadline, "no trial finished in time"
            rows = _trial_rows(db) if db.exists() else []
            if sum(s != "running" for _, s in rows) >= 3 and any(s == "running" for _, s in rows):
                break
            time.sleep(0.02)
    finally:
        proc.kill()  # SIGKILL: kill -9, the engine has no chance to clean up
        proc.wait()
    _wait_for_no_process_in(project_dir)
    project = Project.discover(project_dir)
    (run_id,) = [r["id"] for r in project.metadata.list_runs() if r["parent_id"] is None]
    before = {k: v for k, v in _records(project, run_id).items() if v["status"] != "running"}
    r = cli("run", "--resume", run_id, "--json", cwd=project_dir, timeout=600)
    assert r.returncode == 0, r.stderr
    resumed = json.loads(r.stdout)
    assert resumed["id"] == run_id and resumed["status"] == "succeeded"
    study = load_study(project_dir / ".shipyard" / "tune" / run_id / "tune_model.journal")
    interrupted = [t for t in study.trials if t.user_attrs.get("interrupted")]
    counted = [t for t in study.trials if not t.user_attrs.get("interrupted")]
    assert len(interrupted) >= 1 and all(t.state.name == "FAIL" for t in interrupted)
    assert len(counted) == 10 and all(t.state.name == "COMPLETE" for t in counted)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(len(numbers)))
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(params)) == len(params)
    after = _records(project, run_id)
    assert {k: after[k] for k in before} == before  # finished trials' records untouched
    for t in interrupted:
        run = after[t.user_attrs["run_id"]]
        assert run["status"] == "failed" and run["tags"]["tune.state"] == "interrupted"
    assert sum(r["tags"]["tune.state"] == "complete" for r in after.values()) == 10
    project.close()


def test_a_metric_the_task_does_not_produce_stops_the_run_before_any_trial(
    project_dir: Path,
) -> None:
    write_cancer_csv(project_dir)
    (project_dir / "shipyard.yaml").write_text(XGBOOST.replace("metric: roc_auc", "metric: rmse"))
    r = cli("run", cwd=project_dir, timeout=600)
    assert r.returncode == 1
    assert "tune.metric" in r.stderr and "roc_auc" in r.stderr and "binary" in r.stderr
    project = Project.discover(project_dir)
    assert all(r["parent_id"] is None for r in project.metadata.list_runs())
    project.close()
