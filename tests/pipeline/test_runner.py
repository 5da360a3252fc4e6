"""The engine end to end, in-process, with the real local executor (forked workers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import StepFailedError
from shipyard.pipeline.project import Project

from ..conftest import artifact_files, load

CHAIN = """
import shipyard
from shipyard import pipeline, step

@step
def make(n: int = 3) -> list:
    return list(range(n))

@step
def double(xs: list) -> list:
    return [2 * x for x in xs]

@step
def score(xs: list, scale: float = 1.0) -> shipyard.Metrics:
    for i, x in enumerate(xs):
        shipyard.log_metric("running", x * scale, step=i)
    return shipyard.Metrics(total=sum(xs) * scale)

@pipeline
def p(n: int = 3, scale: float = 1.0):
    score(double(make(n)), scale=scale)
"""


def _status(run: shipyard.Run) -> dict[str, str]:
    return {e["node"]: ("cached" if e["cache_hit"] else e["status"]) for e in run.executions()}


def test_run_records_outputs_metrics_and_lineage(project: Project, project_dir: Path) -> None:
    p = load(project_dir, "chain.py", CHAIN)
    run = shipyard.run(p, project=project, n=4)
    assert run.status == "succeeded"
    assert run["double"] == [0, 2, 4, 6]
    assert run.metrics == {"total": 12.0, "running": 6.0}
    assert [v for _, v, _ in project.metadata.metric_history(run.id, "running")] == [0, 2, 4, 6]
    assert run.params == {"n": 4, "scale": 1.0}
    ex = {e["node"]: e for e in run.executions()}
    assert ex["double"]["inputs"][0]["artifact"] == ex["make"]["outputs"][0]["artifact"]
    assert ex["make"]["peak_rss_bytes"] > 0 and ex["make"]["duration_s"] >= 0
    assert run.details["env"]["packages"]["pyarrow"]
    assert Path(ex["make"]["log_path"]).exists()


def test_second_run_is_all_cache_hits_and_no_cache_runs_again(
    project: Project, project_dir: Path
) -> None:
    p = load(project_dir, "chain.py", CHAIN)
    first = shipyard.run(p, project=project)
    second = shipyard.run(p, project=project)
    assert _status(second) == {"make": "cached", "double": "cached", "score": "cached"}
    assert second["score"] == first["score"]
    forced = shipyard.run(p, project=project, no_cache=True)
    assert set(_status(forced).values()) == {"succeeded"}


def test_a_changed_parameter_reruns_only_what_depends_on_it(
    project: Project, project_dir: Path
) -> None:
    p = load(project_dir, "chain.py", CHAIN)
    shipyard.run(p, project=project)
    run = shipyard.run(p, project=project, scale=2.0)
    assert _status(run) == {"make": "cached", "double": "cached", "score": "succeeded"}
    assert run.metrics["total"] == 12.0


def test_changed_code_invalidates_that_step(project: Project, project_dir: Path) -> None:
    shipyard.run(load(project_dir, "chain.py", CHAIN), project=project)
    changed = CHAIN.replace("[2 * x for x in xs]", "[3 * x for x in xs]")
    run = shipyard.run(load(project_dir, "chain.py", changed), project=project)
    assert _status(run) == {"make": "cached", "double": "succeeded", "score": "succeeded"}
    assert run["double"] == [0, 3, 6]


FILES = """
from pathlib import Path
from shipyard import pipeline, step

@step
def read(path: Path) -> str:
    return Path(path).read_text()

@pipeline
def p(path: str = "data.txt"):
    read(Path(path))
"""


def test_input_files_are_digested_and_invalidate_the_cache(
    project: Project, project_dir: Path
) -> None:
    (project_dir / "data.txt").write_text("v1")
    p = load(project_dir, "files.py", FILES)
    first = shipyard.run(p, project=project)
    files = first.executions()[0]["input_files"]
    assert files[0]["path"] == "data.txt" and len(files[0]["digest"]) == 64
    assert _status(shipyard.run(p, project=project)) == {"read": "cached"}
    (project_dir / "data.txt").write_text("v2")
    third = shipyard.run(p, project=project)
    assert _status(third) == {"read": "succeeded"} and third["read"] == "v2"


PARALLEL = """
import time
from shipyard import pipeline, step

@step
def slow(i: int) -> float:
    time.sleep(1.0)
    return time.time()

@step
def join(a: float, b: float) -> float:
    return abs(a - b)

@pipeline
def p():
    join(slow(1), slow(2))
"""


def test_independent_steps_run_in_parallel_processes(project: Project, project_dir: Path) -> None:
    run = shipyard.run(load(project_dir, "par.py", PARALLEL), project=project, workers=2)
    ex = {e["node"]: e for e in run.executions()}
    a, b = ex["slow"], ex["slow_2"]
    overlap = min(a["ended_at"], b["ended_at"]) - max(a["started_at"], b["started_at"])
    assert overlap > 0.5, "the two 1 s steps should have overlapped in time"


FAILING = """
from shipyard import pipeline, step

@step
def first() -> int:
    print("about to fail")
    raise ValueError("bad row 17")

@step
def second(x: int) -> int:
    return x

@pipeline
def p():
    second(first())
"""


def test_a_failing_step_is_reported_and_leaves_only_its_run_record(
    project: Project, project_dir: Path
) -> None:
    p = load(project_dir, "fail.py", FAILING)
    before = project.metadata.counts()
    arts_before = artifact_files(project_dir)
    with pytest.raises(StepFailedError) as info:
        shipyard.run(p, project=project)
    err = info.value
    assert err.step == "first" and "ValueError: bad row 17" in str(err)
    log = Path(err.log_path or "").read_text()
    assert "about to fail" in log and "Traceback" in log
    after = project.metadata.counts()
    changed = {k for k in after if after[k] != before[k]}
    assert changed <= {"runs", "params", "executions", "environments"}
    assert after["runs"] == before["runs"] + 1 and after["artifacts"] == before["artifacts"]
    assert artifact_files(project_dir) == arts_before
    failed = project.metadata.list_runs()[0]
    assert failed["status"] == "failed" and "bad row 17" in failed["error"]
    ex = project.metadata.run_details(failed["id"])["executions"]
    assert [(e["node"], e["status"]) for e in ex] == [("first", "failed")]


FLAKY = """
from pathlib import Path
from shipyard import pipeline, step

@step(retries=2, retry_backoff_s=0.05)
def flaky(marker: str) -> int:
    m = Path(marker)
    count = int(m.read_text()) if m.exists() else 0
    m.write_text(str(count + 1))
    if count < 1:
        raise ConnectionError("transient")
    return count

@pipeline
def p(marker: str):
    flaky(marker)
"""


def test_retries_with_backoff(project: Project, project_dir: Path) -> None:
    run = shipyard.run(
        load(project_dir, "flaky.py", FLAKY), project=project, marker=str(project_dir / "m")
    )
    ex = run.executions()[0]
    assert ex["status"] == "succeeded" and ex["attempts"] == 2 and run["flaky"] == 1


HANGS = """
import os, time
from shipyard import pipeline, step

@step(timeout_s=1)
def hangs() -> int:
    time.sleep(60)
    return 1

@step
def dies() -> int:
    os._exit(3)

@pipeline
def p(which: str = "hangs"):
    hangs() if which == "hangs" else dies()
"""


def test_a_step_past_its_timeout_is_killed(project: Project, project_dir: Path) -> None:
    with pytest.raises(StepFailedError, match="timeout of 1"):
        shipyard.run(load(project_dir, "hang.py", HANGS), project=project)


def test_a_dead_worker_fails_its_step_instead_of_hanging(
    project: Project, project_dir: Path
) -> None:
    with pytest.raises(StepFailedError, match="died .exit code 3"):
        shipyard.run(load(project_dir, "hang.py", HANGS), project=project, which="dies")


SEEDED = """
import random
import numpy as np
import shipyard
from shipyard import pipeline, step

@step
def draw() -> list:
    return [random.random(), float(np.random.rand()), shipyard.current_seed()]

@pipeline
def p():
    draw()
"""


def test_steps_are_seeded_from_the_run_seed(project: Project, project_dir: Path) -> None:
    p = load(project_dir, "seed.py", SEEDED)
    a = shipyard.run(p, project=project, no_cache=True)["draw"]
    b = shipyard.run(p, project=project, no_cache=True)["draw"]
    c = shipyard.run(p, project=project, no_cache=True, seed=7)["draw"]
    assert a == b and a != c


def test_inline_executor_runs_in_this_process(project: Project, project_dir: Path) -> None:
    run = shipyard.run(load(project_dir, "chain.py", CHAIN), project=project, executor="inline")
    assert run["score"] == {"total": 6.0}


RESUME = """
import os
from shipyard import pipeline, step

@step
def first() -> int:
    return 41

@step
def second(x: int) -> int:
    if os.environ.get("BREAK_SECOND"):
        raise RuntimeError("broken")
    return x + 1

@pipeline
def p():
    second(first())
"""


def test_resume_reruns_only_what_did_not_succeed(
    project: Project, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = load(project_dir, "resume.py", RESUME)
    monkeypatch.setenv("BREAK_SECOND", "1")
    with pytest.raises(StepFailedError) as info:
        shipyard.run(p, project=project, no_cache=True)
    run_id = info.value.run_id
    monkeypatch.delenv("BREAK_SECOND")
    run = shipyard.run(p, project=project, resume=run_id)
    assert run.id == run_id and run.status == "succeeded" and run["second"] == 42
    nodes = [(e["node"], e["status"]) for e in run.executions()]
    assert nodes.count(("first", "succeeded")) == 1
    assert ("second", "failed") in nodes and ("second", "succeeded") in nodes


PICKLED = """
from shipyard import pipeline, step

class Box:
    def __init__(self, v):
        self.v = v

@step(allow_pickle=True)
def make() -> Box:
    return Box(5)

@step
def unwrap(b: Box) -> int:
    return b.v

@pipeline
def p():
    unwrap(make())
"""


def test_pickle_only_by_opt_in_and_marked_unsafe(project: Project, project_dir: Path) -> None:
    run = shipyard.run(load(project_dir, "pick.py", PICKLED), project=project)
    assert run["unwrap"] == 5
    make = next(e for e in run.executions() if e["node"] == "make")
    digest = make["outputs"][0]["artifact"]
    assert project.metadata.resolve_artifact(digest)["unsafe"]
    with pytest.raises(shipyard.errors.UnsafeArtifactError):  # type: ignore[attr-defined]
        shipyard.load_artifact(f"artifact:{digest[:12]}", project=project)


def test_tracking_outside_a_pipeline(project: Project) -> None:
    with shipyard.start_run(name="baseline", params={"lr": 0.1}, project=project) as run:
        shipyard.log_param("depth", 3)
        shipyard.log_metric("auc", 0.8)
        shipyard.log_metric("auc", 0.9)
        digest = run.log_artifact({"weights": [1, 2]}, "weights")
    table = shipyard.runs(project=project, filter="metrics.auc > 0.85")
    assert table.column("name").to_pylist() == ["baseline"]
    assert table.column("params.depth").to_pylist() == ["3"]
    assert shipyard.load_artifact(f"artifact:{digest[:10]}", project=project) == {"weights": [1, 2]}
    with pytest.raises(shipyard.errors.ShipyardError, match="outside a step"):  # type: ignore[attr-defined]
        shipyard.log_metric("x", 1)


def test_runs_table_filters_and_pandas(project: Project, project_dir: Path) -> None:
    p = load(project_dir, "chain.py", CHAIN)
    shipyard.run(p, project=project, n=2)
    shipyard.run(p, project=project, n=5)
    df = shipyard.runs(project=project, filter="metrics.total > 10", as_pandas=True)
    assert list(df["params.n"]) == ["5"]
    assert len(shipyard.runs(project=project, status="succeeded")) == 2


def test_calling_the_pipeline_runs_it_in_the_current_project(project_dir: Path) -> None:
    p = load(project_dir, "chain.py", CHAIN)
    run = p(n=2)  # type: ignore[operator]
    assert run.status == "succeeded" and run["double"] == [0, 2]
    assert (project_dir / ".shipyard" / "metadata.db").exists()
    assert os.getcwd() == str(project_dir)


def test_a_change_anywhere_in_shipyard_misses_the_cache_of_its_own_steps(tmp_path: Path) -> None:
    """train_model calls the trainers: editing one must change the step's code digest."""
    import shutil

    from shipyard.pipeline.step import code_digest, shipyard_source_digest, source_digest
    from shipyard.train.steps import train_model

    copy = tmp_path / "shipyard"
    shutil.copytree(Path(shipyard.__file__).parent, copy)
    before = source_digest(copy)
    assert before == shipyard_source_digest()
    xgb = copy / "train" / "xgboost.py"
    xgb.write_text(xgb.read_text() + "\n# a change in a trainer\n")
    assert source_digest(copy) != before
    # Shipyard's own steps carry the package's digest; a user's step only its own code.
    assert train_model.code_digest != code_digest(train_model.fn)
    user = shipyard.step(lambda x: x)
    assert user.code_digest == code_digest(user.fn)
