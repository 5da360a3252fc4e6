"""Canary and shadow: ``serve.traffic`` splits by weight, sticky by key; ``serve.shadow`` mirrors.

A project of its own registers two versions of the cancer model and serves
``traffic: {"cancer:1": 90, "cancer:2": 10}`` through the registry.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Bundles, Server, start_server, stop_server


def _register(root: Path, table: Any, target: Any, estimators: int) -> None:
    """Train a small XGBoost model on ``table`` and register it as the next cancer version."""
    import numpy as np
    import xgboost

    import shipyard
    from shipyard.pipeline.project import Project

    clf = xgboost.XGBClassifier(n_estimators=estimators, max_depth=2, n_jobs=1)
    clf.fit(np.column_stack([c.to_numpy() for c in table.columns]), target)
    project = Project.discover(root)
    try:
        shipyard.register_model(
            clf.get_booster(),
            name="cancer",
            signature=table.column_names,
            example=table.slice(0, 3).to_pylist(),
            project=project,
        )
    finally:
        project.close()


def _two_versions(bundles: Bundles, root: Path, yaml: str) -> None:
    """A project at ``root`` with this config and cancer versions 1 and 2 (different models)."""
    from sklearn.datasets import load_breast_cancer

    (root / "shipyard.yaml").write_text(yaml)
    for estimators in (5, 7):
        _register(root, bundles.rows, load_breast_cancer().target, estimators)


@pytest.fixture(scope="module")
def canary_server(bundles: Bundles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("canary")
    yaml = 'project:\n  name: canary\nserve:\n  traffic: {"cancer:1": 90, "cancer:2": 10}\n'
    _two_versions(bundles, root, yaml)
    url, proc = start_server([], root, root / "server.log")
    server = Server(url, root / "server.log")
    try:
        yield server
    finally:
        server.close_clients()
        stop_server(proc)


@pytest.fixture(scope="module")
def shadow_server(bundles: Bundles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("shadow")
    _two_versions(bundles, root, 'project:\n  name: shadow\nserve:\n  shadow: "cancer:2"\n')
    url, proc = start_server(["cancer:1"], root, root / "server.log")
    server = Server(url, root / "server.log")
    try:
        yield server
    finally:
        server.close_clients()
        stop_server(proc)


def _version(server: Server, rows: list[dict[str, Any]], key: str | None = None) -> str:
    client = server.clients[0] if server.clients else server.client()
    headers = {"X-Shipyard-Key": key} if key is not None else {}
    status, h, body = client.post_json("/predict", {"records": rows}, headers)
    assert status == 200, body
    assert body["model_version"] == h["x-shipyard-model-version"]
    return h["x-shipyard-model-version"]


def _within_4_sd(counts: Counter[str], n: int) -> None:
    assert set(counts) == {"1", "2"}, counts
    for version, p in (("1", 0.9), ("2", 0.1)):
        sd = math.sqrt(n * p * (1 - p))
        assert abs(counts[version] - n * p) <= 4 * sd, (version, counts)


def test_requests_split_by_weight(bundles: Bundles, canary_server: Server) -> None:
    rows = bundles.rows.slice(0, 1).to_pylist()
    n = 2_000
    _within_4_sd(Counter(_version(canary_server, rows) for _ in range(n)), n)


def test_a_key_always_gets_the_same_version(bundles: Bundles, canary_server: Server) -> None:
    rows = bundles.rows.slice(0, 1).to_pylist()
    n = 2_000
    first = {f"user-{i}": _version(canary_server, rows, f"user-{i}") for i in range(n)}
    _within_4_sd(Counter(first.values()), n)
    for key in list(first)[:200]:
        for _ in range(3):
            assert _version(canary_server, rows, key) == first[key], key
    # A version route reaches either version whatever the split; others are 404.
    client = canary_server.clients[0]
    for version in ("1", "2"):
        status, h, _ = client.get(f"/v2/models/cancer/versions/{version}")
        assert status == 200 and h["x-shipyard-model-version"] == version
    assert client.get("/v2/models/cancer/versions/3")[0] == 404
    # Metadata without a version is the primary's (the heaviest), never a pick.
    for _ in range(20):
        assert client.get("/v2/models/cancer")[1]["x-shipyard-model-version"] == "1"


def test_short_forms_of_traffic_and_shadow() -> None:
    from shipyard.config import ServeConfig

    config = ServeConfig.model_validate(
        {"traffic": {"cancer:3": 90, "cancer:4": 10}, "shadow": "cancer:5"}
    )
    assert [(r.ref, r.weight) for r in config.traffic] == [("cancer:3", 90), ("cancer:4", 10)]
    assert config.shadow == ["cancer:5"]


def _shadow_counts(server: Server) -> dict[str, float]:
    _, _, text = server.clients[0].get("/metrics")
    out = {}
    for line in text.decode().splitlines():
        if line.startswith("shipyard_shadow_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            assert 'model="cancer"' in labels and 'version="2"' in labels, labels
            outcome = labels.split('outcome="')[1].split('"')[0]
            out[outcome] = float(value)
    return out


def test_the_shadow_is_called_and_never_answers(bundles: Bundles, shadow_server: Server) -> None:
    client = shadow_server.client()
    rows = bundles.rows.slice(0, 5).to_pylist()
    answers = []
    for i in range(200):
        status, h, body = client.post_json(
            "/predict", {"records": rows}, {"X-Shipyard-Key": str(i)}
        )
        assert status == 200 and h["x-shipyard-model-version"] == "1", (status, h)
        assert body["model_version"] == "1"
        answers.append(body["predictions"])
    assert all(a == answers[0] for a in answers)
    deadline = time.monotonic() + 10
    counts = _shadow_counts(shadow_server)
    while sum(counts.values()) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
        counts = _shadow_counts(shadow_server)
    # Versions 1 and 2 are different models: the shadow's answers differ and are counted.
    assert sum(counts.values()) == 200 and counts.get("disagree", 0) > 0, counts
    assert counts.get("error", 0) == 0, counts


def test_a_failing_shadow_never_changes_the_answer(
    bundles: Bundles, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The shadow is a wine model registered as cancer version 3: every call of it fails."""
    from sklearn.datasets import load_wine

    root = tmp_path_factory.mktemp("bad-shadow")
    _two_versions(bundles, root, 'project:\n  name: bad\nserve:\n  shadow: ["cancer:3"]\n')
    _register(root, bundles.wine_rows, load_wine().target, 3)  # another signature: cancer:3
    url, proc = start_server(["cancer:1"], root, root / "server.log")
    server = Server(url, root / "server.log")
    try:
        client = server.client()
        rows = bundles.rows.slice(0, 3).to_pylist()
        for _ in range(50):
            status, h, body = client.post_json("/predict", {"records": rows})
            assert status == 200 and h["x-shipyard-model-version"] == "1", body
            assert len(body["predictions"]) == 3
        deadline = time.monotonic() + 10
        while _errors(server) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _errors(server) == 50, server.clients[0].get("/metrics")[2].decode()[-3000:]
    finally:
        server.close_clients()
        stop_server(proc)


def _errors(server: Server) -> float:
    _, _, text = server.clients[0].get("/metrics")
    for line in text.decode().splitlines():
        if line.startswith("shipyard_shadow_requests_total{") and 'outcome="error"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_shadow_answers_are_logged_and_compared_never_returned(
    bundles: Bundles, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("shadow-log")
    _two_versions(bundles, root, 'project:\n  name: shadowlog\nserve:\n  shadow: "cancer:2"\n')
    folder = root / "log"
    url, proc = start_server(["cancer:1", "--log-dir", str(folder)], root, root / "server.log")
    server = Server(url, root / "server.log")
    rows = bundles.rows.slice(0, 4).to_pylist()
    try:
        client = server.client()
        for i in range(30):
            status, h, body = client.post_json(
                "/predict", {"records": rows}, {"X-Request-Id": f"shadowed-{i}"}
            )
            assert status == 200 and body["model_version"] == "1", body
        deadline = time.monotonic() + 10
        while sum(_shadow_counts(server).values()) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.close_clients()
        stop_server(proc)  # the log writes what is queued
    table = pa.concat_tables(
        [pq.read_table(f) for f in folder.glob("*.parquet")], promote_options="default"
    ).to_pylist()
    answers = [r for r in table if not r["shadow"]]
    shadows = [r for r in table if r["shadow"]]
    ids = {f"shadowed-{i}" for i in range(30)}
    # Each request: its 4 answered rows from version 1 and the shadow's 4 from version 2,
    # under the same request id; the shadow's rows say whether they equal the answer's.
    assert Counter(r["request_id"] for r in answers) == dict.fromkeys(ids, 4)
    assert Counter(r["request_id"] for r in shadows) == dict.fromkeys(ids, 4)
    assert {r["version"] for r in answers} == {"1"} and {r["version"] for r in shadows} == {"2"}
    assert all(r["agrees"] is None for r in answers)
    by_key = {(r["request_id"], r["mean_radius"]): r for r in answers}
    for r in shadows:
        answer = by_key[(r["request_id"], r["mean_radius"])]
        same = (r["probability"], r["label"]) == (answer["probability"], answer["label"])
        assert r["agrees"] is same
    assert not all(r["agrees"] for r in shadows)  # two different models


def test_canary_and_shadow_aliases_follow_the_registry(
    bundles: Bundles, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """traffic {cancer:1: 50, cancer@candidate: 50} and shadow cancer@trial; both aliases move."""
    from sklearn.datasets import load_breast_cancer

    from shipyard.pipeline.project import Project
    from shipyard.registry import Registry

    root = tmp_path_factory.mktemp("follow")
    yaml = (
        "project:\n  name: follow\nserve:\n"
        '  traffic: {"cancer:1": 50, "cancer@candidate": 50}\n'
        '  shadow: "cancer@trial"\n'
    )
    _two_versions(bundles, root, yaml)
    _register(root, bundles.rows, load_breast_cancer().target, 9)
    project = Project.discover(root)
    try:
        registry = Registry(project)
        registry.set_alias("cancer", "candidate", 2)
        registry.set_alias("cancer", "trial", 2)
    finally:
        project.close()
    url, proc = start_server(["--poll", "0.2"], root, root / "server.log")
    server = Server(url, root / "server.log")
    rows = bundles.rows.slice(0, 1).to_pylist()
    try:
        before = Counter(_version(server, rows) for _ in range(100))
        assert set(before) == {"1", "2"}, before
        project = Project.discover(root)
        try:
            Registry(project).set_alias("cancer", "candidate", 3)
            Registry(project).set_alias("cancer", "trial", 3)
        finally:
            project.close()
        moved = time.monotonic()
        while time.monotonic() - moved < 5:
            recent = Counter(_version(server, rows) for _ in range(50))
            if set(recent) == {"1", "3"}:
                break
        assert set(recent) == {"1", "3"}, recent  # the canary's share went to version 3
        # The shadow follows too: its copies now go to version 3.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "3" not in _shadow_versions(server):
            _version(server, rows)
            time.sleep(0.05)
        assert "3" in _shadow_versions(server)
        assert "candidate" in (root / "server.log").read_text()
    finally:
        server.close_clients()
        stop_server(proc)


def _shadow_versions(server: Server) -> set[str]:
    _, _, text = server.clients[0].get("/metrics")
    return {
        line.split('version="')[1].split('"')[0]
        for line in text.decode().splitlines()
        if line.startswith("shipyard_shadow_requests_total{")
    }
