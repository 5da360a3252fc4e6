"""The README's quickstart, unmodified, from the CLI and in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sklearn.tree import DecisionTreeClassifier

from shipyard.pipeline.loader import load_pipeline
from shipyard.pipeline.project import Project

from .conftest import REPO, cli

EXAMPLE = REPO / "examples" / "quickstart"


def test_quickstart_from_the_cli(tmp_path: Path) -> None:
    folder = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".shipyard"))
    first = cli("run", "pipeline.py:demo", "--param", "depth=5", "--json", cwd=folder)
    assert first.returncode == 0, first.stderr
    run = json.loads(first.stdout)
    assert run["params"] == {"n": 1000, "depth": 5}
    assert 0.8 < run["metrics"]["train_accuracy"] <= 1.0
    assert [s["node"] for s in run["steps"]] == ["load", "featurize", "fit"]
    second = json.loads(
        cli("run", "pipeline.py:demo", "--param", "depth=5", "--json", cwd=folder).stdout
    )
    assert all(s["cache_hit"] for s in second["steps"])
    replay = cli("reproduce", run["id"][:8], "--json", cwd=folder)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert json.loads(replay.stdout)["identical"] is True


def test_quickstart_in_process(tmp_path: Path, monkeypatch: object) -> None:
    folder = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".shipyard"))
    demo = load_pipeline(f"{folder / 'pipeline.py'}:demo")
    project = Project.discover(folder)
    import shipyard

    run = shipyard.run(demo, project=project, depth=5)
    model = run["fit"]
    assert isinstance(model, DecisionTreeClassifier) and model.max_depth == 5
    assert run["featurize"].column_names == ["x1", "x2", "label", "x1_x2"]
