"""One data file, two commands: `shipyard init FILE --target target` then `shipyard run`.

scikit-learn's breast cancer (binary, 569 rows), wine (multiclass, 178 rows) and
diabetes (regression, 442 rows) go through the real CLI with no edit of the
written shipyard.yaml; the registered model must reach a useful quality on the
eval split, the held-out rows it is measured on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from sklearn import datasets

from shipyard.config import load_config

from .conftest import cli

CASES = [
    # dataset, task, metric, at least
    ("breast_cancer", "binary", "roc_auc", 0.97),
    ("wine", "multiclass", "accuracy", 0.90),
    ("diabetes", "regression", "r2", 0.25),
]


def _write_csv(folder: Path, name: str) -> np.ndarray:
    """The dataset as ``name.csv``: its feature names as columns (spaces and all), then target."""
    data = getattr(datasets, f"load_{name}")(as_frame=False)
    columns = {str(n): data.data[:, i] for i, n in enumerate(data.feature_names)}
    pacsv.write_csv(pa.table({**columns, "target": data.target}), folder / f"{name}.csv")
    return np.asarray(data.target, dtype=np.float64)


@pytest.mark.parametrize(("name", "task", "metric", "minimum"), CASES, ids=[c[0] for c in CASES])
def test_init_then_run_registers_a_good_model(
    tmp_path: Path, name: str, task: str, metric: str, minimum: float
) -> None:
    folder = tmp_path / name
    folder.mkdir()
    y = _write_csv(folder, name)

    init = cli("init", f"{name}.csv", "--target", "target", cwd=folder)
    assert init.returncode == 0, init.stderr
    assert "next: shipyard run" in init.stdout
    config = load_config(folder / "shipyard.yaml")
    assert config.data.task == task
    assert config.data.splits.eval >= 0.2  # small data: enough rows to measure on

    run = cli("run", "--json", cwd=folder, timeout=600)
    assert run.returncode == 0, run.stderr
    metrics = json.loads(run.stdout)["metrics"]
    assert metrics["rows_eval"] >= 0.15 * len(y)
    assert metrics[f"eval_{metric}"] >= minimum, metrics

    shown = cli("models", "show", name, "--json", cwd=folder)
    assert shown.returncode == 0, shown.stderr
    model = json.loads(shown.stdout)
    assert model["aliases"] == {"production": 1}
    version = model["versions"][0]
    assert version["blessed"] and version["properties"]["task"] == task
    registered = version["properties"]["metrics"]
    assert registered[metric] == pytest.approx(metrics[f"eval_{metric}"])
    if task == "regression":
        # Better than the constant that predicts the mean: R2 above 0, and an error
        # below the target's spread.
        assert registered["r2"] > 0
        assert registered["rmse"] < np.std(y)
