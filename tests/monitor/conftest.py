"""A registered model with every reference the monitor reads, and a prediction log written by the server's own writer.

``registered`` (once per session) ingests a synthetic table (two numeric
columns, an integer and a categorical one, a key), fits the transform, trains a
small XGBoost model and registers its bundle (with ``statistics/features.json``)
as ``loans@production``. ``monitored`` copies that project for one test, so
that each test starts with no windows. ``write_log`` sends rows through
:class:`shipyard.serve._log.PredictionLog` with the server's ``ServedModel``,
exactly as the server logs them.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from shipyard.pipeline.project import Project

from ..transform import ingest_table

YAML = "project:\n  name: monitoring\nregister:\n  model_name: loans\n"
CITIES = ["north", "south", "east", "west"]


def make_table(
    n: int, seed: int, *, shift: float = 0.0, cities: list[str] | None = None
) -> pa.Table:
    """Rows of the synthetic data; ``shift`` moves ``income`` by that many standard deviations."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50.0 + 10.0 * shift, 10.0, n)
    age = rng.integers(18, 80, n)
    debt = rng.exponential(5.0, n)
    city = rng.choice(cities or CITIES, n, p=None)
    logit = 0.08 * (income - 50) - 0.1 * debt + (city == "north") * 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    ids = [f"k{seed}-{i}" for i in range(n)]
    return pa.table({"id": ids, "income": income, "age": age, "debt": debt, "city": city, "y": y})


@dataclass
class Registered:
    root: Path
    version: Any


@pytest.fixture(scope="session")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    import xgboost

    from shipyard.registry.steps import register_model
    from shipyard.train.model import TrainedModel
    from shipyard.transform import fit_transform, plan_features

    root = tmp_path_factory.mktemp("monitoring")
    (root / "shipyard.yaml").write_text(YAML)
    result = ingest_table(
        root / "data",
        make_table(6000, 0),
        splits={"method": "random", "train": 0.7, "eval": 0.3},
        key="id",
        target="y",
    )
    dataset = result.dataset
    plan = plan_features({}, dataset.schema, target="y", key="id")
    transform = fit_transform(plan, dataset, statistics=result.statistics)
    xs, ys = [], []
    for x, batch in transform.iter_features(dataset, "train"):
        xs.append(x)
        ys.append(batch.column("y").to_numpy())
    clf = xgboost.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1)
    clf.fit(np.concatenate(xs), np.concatenate(ys))
    model = TrainedModel(
        model=clf.get_booster(),
        algorithm="xgboost",
        framework="xgboost",
        framework_version=xgboost.__version__,
        task="binary",
        num_classes=2,
        feature_names=transform.feature_names,
    )
    # The register step itself, called outside a pipeline: bundle (with its three
    # references), artifact, version and alias, as a run registers them.
    done = register_model(
        model,
        transform,
        {"verdict": {"blessed": True}, "threshold": 0.5},
        register={"model_name": "loans", "alias": "production"},
        dataset=dataset,
        statistics=result.statistics,
        key="id",
        root=str(root),
    )
    return Registered(root, done["version"])


@pytest.fixture
def monitored(registered: Registered, tmp_path: Path) -> Iterator[Path]:
    """A copy of the registered project for one test (no windows, no log yet)."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(registered.root / "shipyard.yaml", root / "shipyard.yaml")
    shutil.copytree(registered.root / ".shipyard", root / ".shipyard")
    yield root


def served_model(root: Path) -> Any:
    """The server's view of ``loans@production`` (what it hands the log)."""
    from shipyard.bundle import load_bundle
    from shipyard.registry import Registry
    from shipyard.serve._model import ServedModel

    project = Project.discover(root)
    try:
        version = Registry(project).get("loans@production")
        bundle = load_bundle(project.artifacts.path(version.artifact))
    finally:
        project.close()
    return ServedModel(bundle, str(version.version))


def write_log(
    root: Path,
    table: pa.Table,
    *,
    request_rows: int = 1,
    refused: int = 0,
    folder: Path | None = None,
    model: Any = None,
) -> list[str]:
    """Send ``table``'s rows through the server's PredictionLog; return the request ids."""
    from shipyard.serve._log import PredictionLog

    model = model or served_model(root)
    log = PredictionLog(folder or root / ".shipyard" / "predictions", flush_s=0.05)
    ids = []
    inputs = table.select(model.signature.names)
    for start in range(0, table.num_rows, request_rows):
        part = inputs.slice(start, request_rows)
        columns = {n: part.column(n).combine_chunks() for n in part.column_names}
        out = model.predict([columns])
        rid = uuid.uuid4().hex
        ids.append(rid)
        log.answered(model, rid, columns, out, 1.0 + (start % 7))
    for _ in range(refused):
        log.refused(model, uuid.uuid4().hex, 400, ValueError("feature 'income': not a number"), 0.5)
    log.close()
    time.sleep(0.01)
    return ids
