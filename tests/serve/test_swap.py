"""Hot swap (RELIABILITY.md 14, 15): an alias moves under constant load with zero failed requests;
a version that fails to load leaves the old one serving, and the failure is visible."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from .conftest import Client, expected, records, start_server, stop_server


def _register(project: Any, table: pa.Table, y: np.ndarray, trees: int, alias: str | None) -> Any:
    import xgboost

    import shipyard

    x = np.column_stack([c.to_numpy() for c in table.columns])
    clf = xgboost.XGBClassifier(n_estimators=trees, max_depth=2, n_jobs=1).fit(x, y)
    return shipyard.register_model(
        clf.get_booster(),
        name="cancer",
        signature=table.column_names,
        example=table.slice(0, 3).to_pylist(),
        alias=alias,
        project=project,
    )


def test_promotion_under_load_switches_every_worker_with_zero_failures(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    from shipyard.pipeline.project import Project
    from shipyard.registry import Registry

    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    table = pa.table({n: data.data[:, i] for i, n in enumerate(names)})
    root = tmp_path / "proj"
    root.mkdir()
    (root / "shipyard.yaml").write_text("project:\n  name: swap\n")
    project = Project.discover(root)
    try:
        _register(project, table, data.target, 20, "production")
        v2 = _register(project, table, data.target, 3, None)
        v3 = _register(project, table, data.target, 4, None)
        v2_dir = Path(project.artifacts.path(v2.artifact))
        v3_dir = Path(project.artifacts.path(v3.artifact))
    finally:
        project.close()
    row = table.slice(5, 1)
    want_v2 = expected(v2_dir, row)[0]["probability"]
    url, proc = start_server(
        ["cancer@production", "--workers", "2", "--poll", "0.2"], root, tmp_path / "swap.log"
    )
    seen: list[tuple[int, str, float]] = []
    stop = threading.Event()

    def load() -> None:
        c = Client(url)
        try:
            while not stop.is_set():
                status, headers, body = c.post_json("/predict", {"records": records(row)})
                version = headers.get("x-shipyard-model-version", "")
                p = body["predictions"][0]["probability"] if status == 200 else float("nan")
                seen.append((status, version, p))
        finally:
            c.close()

    threads = [threading.Thread(target=load) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        project = Project.discover(root)
        try:
            Registry(project).promote("cancer", 2, reason="test")
        finally:
            project.close()
        moved = time.monotonic()
        while time.monotonic() - moved < 5 and not any(v == "2" for _, v, _ in seen[-20:]):
            time.sleep(0.05)
        switched = time.monotonic() - moved
        time.sleep(1.0)  # every worker has had several polls
        stop.set()
        for t in threads:
            t.join(10)
        assert seen and all(s == 200 for s, _, _ in seen), {s for s, _, _ in seen}
        assert {v for _, v, _ in seen} == {"1", "2"}
        assert switched < 5
        c = Client(url)
        try:
            after = [c.post_json("/predict", {"records": records(row)}) for _ in range(20)]
        finally:
            c.close()
        assert {h["x-shipyard-model-version"] for _, h, _ in after} == {"2"}
        assert after[0][2]["predictions"][0]["probability"] == pytest.approx(want_v2, abs=1e-12)
        for _, version, p in seen:
            if version == "2":
                assert p == pytest.approx(want_v2, abs=1e-12)
        # A version whose bundle fails its digest check: the old version keeps serving.
        (v3_dir / "input_example.json").write_text("[]")
        project = Project.discover(root)
        try:
            Registry(project).promote("cancer", 3, reason="broken")
        finally:
            project.close()
        time.sleep(1.5)
        c = Client(url)
        try:
            after = [c.post_json("/predict", {"records": records(row)}) for _ in range(10)]
            metrics = c.get("/metrics")[2].decode()
        finally:
            c.close()
        assert {(s, h["x-shipyard-model-version"]) for s, h, _ in after} == {(200, "2")}
        # Counted once per worker (two), summed by the scrape.
        assert 'shipyard_model_load_failures_total{model="cancer",version="3"} 2.0' in metrics
        assert "failed to load; version 2 keeps serving" in (tmp_path / "swap.log").read_text()
    finally:
        stop.set()
        stop_server(proc)
