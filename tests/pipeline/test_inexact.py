"""Steps marked inexact are reproduced by their metrics within a tolerance, not their digests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import cli, write

PIPELINE = """
import time

from shipyard import pipeline, step
from shipyard.pipeline.context import log_metric, mark_inexact


@step
def source() -> int:
    return 21


@step
def noisy(x: int) -> float:
    # Other bytes on every run (the clock), a metric that moves by less than 0.1%.
    value = x + (time.time_ns() % 10**9) * 1e-12
    log_metric("score", value)
    mark_inexact(["score"], {tolerance})
    return value


@step
def double(value: float) -> float:
    return 2 * value


@pipeline
def p():
    double(noisy(source()))
"""


@pytest.mark.parametrize("tolerance", [0.01, 0.0])
def test_an_inexact_step_is_compared_by_its_metrics(project_dir: Path, tolerance: float) -> None:
    write(project_dir, "pipe.py", PIPELINE.format(tolerance=tolerance))
    first = cli("run", "pipe.py:p", "--json", cwd=project_dir)
    assert first.returncode == 0, first.stderr
    run = json.loads(first.stdout)
    assert json.loads(run["tags"]["inexact.noisy"]) == {
        "metrics": ["score"],
        "tolerance": tolerance,
    }
    replay = cli("reproduce", run["id"][:8], "--json", cwd=project_dir)
    result = json.loads(replay.stdout)
    nodes = {n["node"]: n for n in result["nodes"]}
    assert nodes["source"]["compared"] == "digests" and nodes["source"]["match"]
    assert nodes["noisy"]["compared"] == "metrics"
    if tolerance:
        assert replay.returncode == 0 and result["identical"] and not result["exact"]
        assert "within 1.00%" in nodes["noisy"]["reasons"][0]
        assert nodes["double"]["compared"] == "explained" and nodes["double"]["match"]
        text = cli("reproduce", run["id"][:8], cwd=project_dir).stdout
        assert "reproduced within tolerance" in text
    else:
        assert replay.returncode == 1 and not result["identical"]
        assert "beyond" in nodes["noisy"]["reasons"][0]
