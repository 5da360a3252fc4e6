"""Real servers on 127.0.0.1 for the serving tests: bundles made once, servers once per session.

``bundles`` registers two small XGBoost models (binary: breast cancer; multiclass:
wine) in a project of the session and exports the binary one to a folder.
``bundle_server`` runs ``shipyard serve --bundle`` on that folder (no store);
``registry_server`` runs ``shipyard serve cancer@production wine@production``
in the project. Both are real subprocesses with their logs in files.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from ..conftest import SHIPYARD

# Small limits so that the 413 tests send little; the row limit still fits the datasets.
SERVE_YAML = """\
project:
  name: serving
serve:
  max_batch_size: 32
  max_wait_ms: 2
  limits:
    max_body_bytes: 1000000
    max_rows: 600
"""


@dataclass
class Bundles:
    project: Path
    cancer: Path  # an exported copy, outside the store
    rows: pa.Table  # the cancer inputs
    wine_rows: pa.Table


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Client:
    """One keep-alive HTTP/1.1 connection to a server (reopened after the server closes it)."""

    def __init__(self, base: str) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def post_json(
        self, path: str, payload: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        body = json.dumps(payload).encode()
        status, h, data = self.request(
            "POST", path, body, {"Content-Type": "application/json", **(headers or {})}
        )
        return status, h, json.loads(data) if data else None

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    import xgboost
    from sklearn.datasets import load_breast_cancer, load_wine

    import shipyard
    from shipyard.bundle import copy_bundle
    from shipyard.pipeline.project import Project

    root = tmp_path_factory.mktemp("serving")
    (root / "shipyard.yaml").write_text(SERVE_YAML)
    project = Project.discover(root)
    try:
        out = {}
        for name, loader, estimators in (
            ("cancer", load_breast_cancer, 20),
            ("wine", load_wine, 10),
        ):
            data = loader()
            names = [n.replace(" ", "_").replace("/", "_") for n in data.feature_names]
            table = pa.table({n: data.data[:, i] for i, n in enumerate(names)})
            x = np.column_stack([c.to_numpy() for c in table.columns])
            clf = xgboost.XGBClassifier(n_estimators=estimators, max_depth=3, n_jobs=1)
            clf.fit(x, data.target)
            version = shipyard.register_model(
                clf.get_booster(),
                name=name,
                signature=names,
                example=table.slice(0, 3).to_pylist(),
                alias="production",
                project=project,
            )
            out[name] = (version, table)
        folder = project.artifacts.path(out["cancer"][0].artifact)
        exported = copy_bundle(Path(folder), root.parent / "cancer-bundle")
    finally:
        project.close()
    return Bundles(root, exported, out["cancer"][1], out["wine"][1])


def start_server(args: list[str], cwd: Path, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """Start ``shipyard serve ARGS`` on a free port; return its URL once ready."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("SHIPYARD_STORE_URL", None)
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [SHIPYARD, "serve", *args, "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()[-3000:]}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/v2/health/ready")
            if conn.getresponse().status == 200:
                return base, proc
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    proc.kill()
    raise AssertionError(f"the server did not get ready: {log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Server:
    url: str
    log: Path
    clients: list[Client] = field(default_factory=list)

    def client(self) -> Client:
        """A new connection, kept (and closed) until the server stops."""
        client = Client(self.url)
        self.clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture(scope="session")
def bundle_server(bundles: Bundles) -> Iterator[Server]:
    log = bundles.project.parent / "bundle-server.log"
    url, proc = start_server(["--bundle", str(bundles.cancer)], bundles.project, log)
    server = Server(url, log)
    try:
        yield server
    finally:
        server.close_clients()
        stop_server(proc)


@pytest.fixture(scope="session")
def registry_server(bundles: Bundles) -> Iterator[Server]:
    log = bundles.project.parent / "registry-server.log"
    url, proc = start_server(
        ["cancer@production", "wine@production", "--workers", "2"], bundles.project, log
    )
    server = Server(url, log)
    try:
        yield server
    finally:
        server.close_clients()
        stop_server(proc)


def expected(bundle_dir: Path, table: pa.Table) -> list[dict[str, Any]]:
    """What ``Bundle.predict`` gives for these rows, as JSON records."""
    from shipyard.bundle import load_bundle

    out = load_bundle(bundle_dir).predict(table)
    return out.to_pylist()


def records(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows
