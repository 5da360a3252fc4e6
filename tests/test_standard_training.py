"""The standard pipeline through training: ingest -> validate -> transform -> train -> evaluate -> register."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import cli, write_cancer_csv

YAML = """
project:
  name: cancer
data:
  source:
    path: cancer.csv
  target: target
train:
  algorithm: xgboost
  early_stopping_rounds: 20
evaluate:
  metrics: [roc_auc, log_loss]
  gate:
    thresholds:
      roc_auc: {{min: {min_auc}}}
register:
  model_name: cancer
  alias: production
"""


def test_train_evaluate_register_and_the_gate(project_dir: Path) -> None:
    write_cancer_csv(project_dir)
    (project_dir / "shipyard.yaml").write_text(YAML.format(min_auc=0.9))
    r = cli("run", "--json", cwd=project_dir, timeout=600)
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    assert [s["node"] for s in run["steps"]][-4:] == [
        "fit_features",
        "train_model",
        "evaluate_model",
        "register_model",
    ]
    assert run["metrics"]["eval_roc_auc"] >= 0.97
    models = json.loads(cli("models", "list", "--json", cwd=project_dir).stdout)
    assert models[0]["name"] == "cancer" and models[0]["aliases"] == {"production": 1}
    # A gate the model cannot pass: exit 3, the reason named, nothing registered.
    (project_dir / "shipyard.yaml").write_text(YAML.format(min_auc=0.9999))
    rejected = cli("run", cwd=project_dir, timeout=600)
    assert rejected.returncode == 3, rejected.stderr
    assert "roc_auc" in rejected.stderr and "not registered" in rejected.stderr
    after = json.loads(cli("models", "show", "cancer", "--json", cwd=project_dir).stdout)
    assert len(after["versions"]) == 1


def test_a_misspelled_parameter_stops_the_run_before_training(project_dir: Path) -> None:
    write_cancer_csv(project_dir)
    config = YAML.format(min_auc=0.9).replace(
        "  early_stopping_rounds: 20", "  early_stopping_rounds: 20\n  params: {max_dpeth: 3}"
    )
    (project_dir / "shipyard.yaml").write_text(config)
    r = cli("run", cwd=project_dir, timeout=600)
    assert r.returncode == 1
    assert "train_model" in r.stderr and "max_dpeth" in r.stderr and "max_depth" in r.stderr
    runs = json.loads(cli("runs", "--json", cwd=project_dir).stdout)
    steps = json.loads(cli("show", runs[0]["id"], "--json", cwd=project_dir).stdout)["steps"]
    assert not any(s["node"] in ("evaluate_model", "register_model") for s in steps)
