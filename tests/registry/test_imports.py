"""Bring your own model: models trained outside Shipyard registered, bundled and predicting."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import lightgbm
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xgboost
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.errors import ConfigError
from shipyard.pipeline.project import Project
from shipyard.registry import Registry

from ..conftest import cli


def _cancer() -> tuple[pa.Table, np.ndarray, list[str]]:
    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    table = pa.table({n: data.data[:, i] for i, n in enumerate(names)})
    return table, data.target, names


def test_a_notebook_model_registers_serves_its_example_and_predicts_the_same(
    project: Project, project_dir: Path
) -> None:
    table, y, names = _cancer()
    frame = table.to_pandas()
    clf = xgboost.XGBClassifier(n_estimators=30, max_depth=3).fit(frame, y)
    version = shipyard.register_model(
        clf,
        name="byo",
        example=frame.head(3),
        description="trained in a notebook",
        alias="production",
        project=project,
    )
    assert (version.name, version.version, version.forced) == ("byo", 1, True)
    assert version.properties["source"]["kind"] == "import" and version.run_id is None
    assert version.properties["task"] == "binary"
    assert "no evaluation gate ran" in version.verdict_text
    shown = json.loads(cli("models", "show", "byo@production", "--json", cwd=project_dir).stdout)
    assert shown["properties"]["input_example"][0]["mean_radius"] == pytest.approx(17.99)
    pq.write_table(table, project_dir / "in.parquet")
    r = cli("predict", "byo@production", "in.parquet", "out.parquet", cwd=project_dir)
    assert r.returncode == 0, r.stderr
    got = pq.read_table(project_dir / "out.parquet").column("probability").to_numpy()
    assert np.allclose(got, clf.predict_proba(frame)[:, 1], rtol=0, atol=1e-6)


def test_a_saved_lightgbm_file_is_imported_from_the_command_line(project_dir: Path) -> None:
    table, y, names = _cancer()
    x = np.column_stack([c.to_numpy() for c in table.columns])
    booster = lightgbm.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7},
        lightgbm.Dataset(x, y, feature_name=names),
        num_boost_round=20,
    )
    booster.save_model(project_dir / "model.txt")
    (project_dir / "signature.json").write_text(
        json.dumps({"inputs": [{"name": n, "type": "double"} for n in names]})
    )
    r = cli(
        "models", "import", "model.txt", "--framework", "lightgbm", "--name", "lgb",
        "--signature", "signature.json", "--threshold", "0.3", "--alias", "production",
        cwd=project_dir,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "registered lgb:1" in r.stdout
    pq.write_table(table, project_dir / "in.parquet")
    r = cli("predict", "lgb@production", "in.parquet", "out.parquet", cwd=project_dir)
    assert r.returncode == 0, r.stderr
    out = pq.read_table(project_dir / "out.parquet")
    expected = booster.predict(x.astype(np.float32))
    assert np.allclose(out.column("probability").to_numpy(), expected, atol=1e-9)
    assert out.column("label").to_pylist() == [int(p >= 0.3) for p in expected]


def test_a_scikit_learn_multiclass_model_gives_its_probabilities(project: Project) -> None:
    data = load_wine()
    names = [n.replace("/", "_") for n in data.feature_names]
    clf = LogisticRegression(max_iter=5000).fit(data.data, data.target)
    shipyard.register_model(clf, name="wine", signature=names, project=project)
    bundle = shipyard.load_artifact("wine:1", project=project)
    out = bundle.predict({n: data.data[:, i] for i, n in enumerate(names)})
    probs = np.array(out.column("probabilities").to_pylist())
    expected = clf.predict_proba(data.data.astype(np.float32))
    assert probs.shape == (178, 3) and np.allclose(probs, expected, atol=1e-5)
    assert out.column("label").to_pylist() == list(np.argmax(expected, axis=1))
    registry = Registry(project)
    assert registry.get("wine:1").properties["task"] == "multiclass"


def test_imports_that_cannot_work_are_refused_with_the_reason(
    project: Project, project_dir: Path
) -> None:
    table, y, names = _cancer()
    x = np.column_stack([c.to_numpy() for c in table.columns])
    clf = LogisticRegression(max_iter=50).fit(x[:, :3], y)
    with pytest.raises(ConfigError, match="does not name its features"):
        shipyard.register_model(clf, name="m", project=project)
    with pytest.raises(ConfigError, match="lacks the signature's column"):
        shipyard.register_model(
            clf, name="m", signature=["a", "b", "c"], example=[{"a": 1, "b": 2}], project=project
        )
    with pytest.raises(ConfigError, match="'city' has type 'string'"):
        shipyard.register_model(
            clf, name="m", signature=[{"name": "city", "type": "string"}], project=project
        )
    with pytest.raises(ConfigError, match="cannot predict the example"):
        shipyard.register_model(
            clf, name="m", signature=["a", "b"], example=[{"a": 1, "b": 2}], project=project
        )
    assert Registry(project).list_models() == []
    # A pickle is never loaded, whatever it claims to be.
    (project_dir / "model.pkl").write_bytes(pickle.dumps(clf))
    r = cli(
        "models", "import", "model.pkl", "--framework", "sklearn", "--name", "m", cwd=project_dir
    )
    assert r.returncode == 2 and "pickle" in r.stderr and "skops" in r.stderr
    r = cli("models", "import", "model.pkl", "--framework", "keras", "--name", "m", cwd=project_dir)
    assert r.returncode == 2 and "keras" in r.stderr and "xgboost" in r.stderr
