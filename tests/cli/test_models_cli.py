"""`shipyard models list | show | promote | rollback` through the real executable."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.pipeline.project import Project
from shipyard.registry import Registry

from ..conftest import cli
from ..registry.test_registry import stored


def _registered(project: Project) -> Registry:
    """churn: version 1 (blessed, with a gate verdict, on production), version 2 (forced)."""
    registry = Registry(project)
    run_id, _ = project.metadata.create_run(
        pipeline="train", source="p.py:train", seed=0, params={}
    )
    registry.register(
        "churn",
        stored(project.metadata, project.artifacts, {"w": 1}),
        blessed=True,
        run_id=run_id,
        description="baseline [not markup]",
        tags={"team": "risk"},
        properties={
            "gate": {"passed": True, "summary": "roc_auc 0.81 >= 0.70"},
            "input_example": {"age": 41},
        },
        alias="production",
    )
    registry.register(
        "churn", stored(project.metadata, project.artifacts, {"w": 2}), blessed=False, force=True
    )
    return registry


def test_list_and_show(project: Project, project_dir: Path) -> None:
    _registered(project)
    r = cli("models", "list", cwd=project_dir)
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if "churn" in line)
    assert "production->1" in line and " 2 " in line
    [listed] = json.loads(cli("models", "list", "--json", cwd=project_dir).stdout)
    assert listed["latest_version"] == 2 and listed["aliases"] == {"production": 1}

    r = cli("models", "show", "churn", cwd=project_dir)
    assert r.returncode == 0, r.stderr
    versions_table = r.stdout.split("alias moves")[0]
    rows = {row.split("│")[1].strip(): row for row in versions_table.splitlines() if "│" in row}
    first, second = rows["1"], rows["2"]
    for text in ("production", "yes", "passed: roc_auc 0.81", "train-1", "team=risk"):
        assert text in first, (text, r.stdout)
    assert "baseline [not markup]" in r.stdout  # user text is printed as typed
    assert "no (forced)" in second
    assert "alias moves" in r.stdout

    shown = json.loads(cli("models", "show", "churn", "--json", cwd=project_dir).stdout)
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert shown["versions"][0]["properties"]["gate"]["passed"] is True
    assert [(h["from_version"], h["to_version"]) for h in shown["history"]] == [(None, 1)]

    one = cli("models", "show", "churn@production", cwd=project_dir)
    assert one.returncode == 0, one.stderr
    assert "input example" in one.stdout and '{"age": 41}' in one.stdout
    assert json.loads(cli("models", "show", "churn:2", "--json", cwd=project_dir).stdout)["forced"]


def test_promote_then_rollback_are_audited(project: Project, project_dir: Path) -> None:
    registry = _registered(project)
    r = cli("models", "promote", "churn", "2", "--reason", "better recall", cwd=project_dir)
    assert r.returncode == 0, r.stderr
    assert "production of churn: 1 -> 2" in r.stdout
    again = cli("models", "promote", "churn", "2", cwd=project_dir)
    assert again.returncode == 0 and "nothing moved" in again.stdout
    staged = cli("models", "promote", "churn", "1", "--alias", "staging", cwd=project_dir)
    assert staged.returncode == 0, staged.stderr
    r = cli("models", "rollback", "churn", cwd=project_dir)
    assert r.returncode == 0, r.stderr
    assert "production of churn: 2 -> 1" in r.stdout
    assert registry.get("churn@production").version == 1
    log = registry.history("churn")
    assert [(m.alias, m.from_version, m.to_version) for m in log] == [
        ("production", None, 1),
        ("production", 1, 2),
        ("staging", None, 1),
        ("production", 2, 1),
    ]
    assert log[1].reason == "better recall" and log[3].reason.startswith("rollback of move #2")
    shown = cli("models", "show", "churn", cwd=project_dir).stdout
    assert "better recall" in shown and "rollback of move #2" in shown


def test_errors_exit_2_with_a_message(project: Project, project_dir: Path) -> None:
    _registered(project)
    cases = {
        ("models", "show", "nope"): "no model named 'nope'",
        ("models", "show", "../etc"): "must be 1-128 letters",
        ("models", "show", "run:abcd"): "not a model",
        ("models", "promote", "churn", "9"): "has no version 9; its versions are 1 to 2",
        ("models", "promote", "nope", "1"): "no model named 'nope'",
        ("models", "rollback", "churn"): "no earlier version to roll back to",
        ("models", "rollback", "churn", "--alias", "canary"): "never been set",
        ("models", "promote", "churn", "0"): "Invalid value for 'VERSION'",
    }
    for args, message in cases.items():
        r = cli(*args, cwd=project_dir)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_an_empty_registry(project_dir: Path) -> None:
    r = cli("models", "list", cwd=project_dir)
    assert r.returncode == 0 and "no models registered yet" in r.stdout
    assert json.loads(cli("models", "list", "--json", cwd=project_dir).stdout) == []
