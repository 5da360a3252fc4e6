"""The retrain action: a real standard pipeline run, the gate, and the alias moved (or not)."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.config import AlertConfig
from shipyard.monitor.alerts import AlertContext, due_alerts, perform

from ..conftest import cli, write_cancer_csv

YAML = """
project:
  name: cancer
data:
  source:
    path: cancer.csv
  target: target
train:
  algorithm: xgboost
  params: {n_estimators: 60, max_depth: 3}
evaluate:
  metrics: [roc_auc]
  gate:
    thresholds:
      roc_auc: {min: 0.9}
    tolerance: 0.05  # newer data: the candidate may differ from production by noise
register:
  model_name: cancer
  alias: production
"""


def _models(folder: Path) -> dict[str, object]:
    shown: dict[str, object] = json.loads(
        cli("models", "show", "cancer", "--json", cwd=folder).stdout
    )
    return shown


def test_retrain_promotes_a_blessed_model_and_keeps_the_alias_on_a_rejected_one(
    project_dir: Path,
) -> None:
    write_cancer_csv(project_dir, rows=400)
    (project_dir / "shipyard.yaml").write_text(YAML)
    first = cli("run", cwd=project_dir, timeout=600)
    assert first.returncode == 0, first.stderr
    [alert] = due_alerts(
        [AlertConfig(metric="psi:*", threshold=0.2, action="retrain")],
        [{"psi:mean_radius": 0.4}],
    )
    window = {"id": 3, "start": None, "end": None, "rows": 120}
    ctx = AlertContext(project_dir, "cancer", "cancer@production", window)

    write_cancer_csv(project_dir)  # newer data arrived: all 569 rows
    result = perform(alert, ctx)
    assert result.status == "promoted", result.detail
    assert result.detail["version"] == 2 and result.detail["from_version"] == 1
    shown = _models(project_dir)
    assert shown["aliases"] == {"production": 2}
    runs = json.loads(cli("runs", "--json", cwd=project_dir).stdout)
    assert runs[0]["tags"]["shipyard.trigger"] == "monitor"
    assert runs[0]["tags"]["shipyard.monitor.window"] == "3"
    move = shown["history"][-1]  # type: ignore[index]
    assert move["user"] == "shipyard-monitor" and move["to_version"] == 2
    assert "retrained after window 3: psi:mean_radius=0.4" in move["reason"]

    write_cancer_csv(project_dir, shuffle=True)  # labels unrelated to the features: worse
    rejected = perform(alert, ctx)
    assert rejected.status == "rejected", rejected.detail
    assert "roc_auc" in rejected.detail["error"]
    assert _models(project_dir)["aliases"] == {"production": 2}  # the alias stayed
