"""SIGTERM under load (RELIABILITY 16): drain, answer what is in flight, flush the log, exit.

A real ``shipyard serve --bundle`` (one worker, the CLI process itself) gets
SIGTERM while clients send requests on keep-alive connections and one
request's body is still being uploaded (in flight, for as long as the test
wants). Then: readiness turns 503 at once, requests on open connections get
503 with ``Retry-After`` and an error body, the request in flight gets its 200,
every answered request is in the prediction log's Parquet files, and the
process exits 0 within the grace period. A second SIGTERM exits at once.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .conftest import Bundles, records, start_server, stop_server

GRACE_S = 10


def _project(tmp_path: Path, grace_s: float) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "shipyard.yaml").write_text(
        f"project:\n  name: drain\nserve:\n  grace_period_s: {grace_s}\n"
    )
    return root


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def start_upload(url: str, body: bytes) -> socket.socket:
    """A POST /predict whose headers and first half of the body are sent; the rest waits."""
    sock = socket.create_connection(("127.0.0.1", _port(url)), timeout=20)
    head = (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Request-Id: slow-upload\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[: len(body) // 2])
    return sock


def finish_upload(sock: socket.socket, body: bytes) -> tuple[int, dict[str, str], Any]:
    sock.sendall(body[len(body) // 2 :])
    response = http.client.HTTPResponse(sock, method="POST")
    response.begin()
    data = response.read()
    sock.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(data)


class Load(threading.Thread):
    """Sends /predict on one keep-alive connection until a 503 (or an error) comes back."""

    def __init__(self, url: str, payload: bytes) -> None:
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", _port(url), timeout=10)
        self.payload = payload
        self.answered: list[str] = []  # request ids of the 200s
        self.refused: list[tuple[str | None, dict[str, Any]]] = []  # Retry-After, body
        self.errors: list[str] = []

    def run(self) -> None:
        while True:
            try:
                self.conn.request(
                    "POST", "/predict", self.payload, {"Content-Type": "application/json"}
                )
                r = self.conn.getresponse()
                data = r.read()
            except Exception as exc:  # noqa: BLE001 - recorded and asserted on
                self.errors.append(type(exc).__name__)
                return
            if r.status == 200:
                self.answered.append(r.getheader("X-Request-Id") or "")
                continue
            self.refused.append((r.getheader("Retry-After"), json.loads(data)))
            if r.status != 503:
                self.errors.append(f"status {r.status}")
            return


def _get(conn: http.client.HTTPConnection, path: str) -> int:
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    return r.status


def _logged(folder: Path) -> pa.Table:
    files = sorted(folder.glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def test_sigterm_under_load_drains_and_flushes(bundles: Bundles, tmp_path: Path) -> None:
    root = _project(tmp_path, GRACE_S)
    folder = tmp_path / "log"
    url, proc = start_server(
        ["--bundle", str(bundles.cancer), "--log-dir", str(folder), "--no-access-log"],
        root,
        tmp_path / "server.log",
    )
    try:
        one = json.dumps({"records": records(bundles.rows.slice(0, 1))}).encode()
        many = json.dumps({"records": records(bundles.rows.slice(0, 40))}).encode()
        # Connections opened (and used once) before the signal.
        ready = http.client.HTTPConnection("127.0.0.1", _port(url), timeout=10)
        idle = http.client.HTTPConnection("127.0.0.1", _port(url), timeout=10)
        assert _get(ready, "/v2/health/ready") == 200
        idle.request("POST", "/predict", one, {"Content-Type": "application/json"})
        first = idle.getresponse()
        first.read()
        assert first.status == 200
        answered = [first.getheader("X-Request-Id")]
        upload = start_upload(url, many)
        loads = [Load(url, one) for _ in range(4)]
        for load in loads:
            load.start()
        time.sleep(0.5)
        assert all(load.answered for load in loads), "the load did not get going"

        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        while _get(ready, "/v2/health/ready") != 503:
            assert time.monotonic() - signalled < 0.5, "readiness still 200 after 0.5 s"
        assert _get(ready, "/ping") == 503 and _get(ready, "/health") == 503
        assert _get(ready, "/v2/health/live") == 200  # alive, not ready

        idle.request("POST", "/predict", one, {"Content-Type": "application/json"})
        late = idle.getresponse()
        body = json.loads(late.read())
        assert late.status == 503 and late.getheader("Retry-After") == "1"
        assert "shutting down" in body["error"]

        for load in loads:
            load.join(10)
            assert not load.is_alive(), "a client request hung"
            assert load.errors == [], load.errors  # no reset, no timeout, no other status
            assert [retry for retry, _ in load.refused] == ["1"]
            answered += load.answered
        assert proc.poll() is None, "the server exited with a request still in flight"

        # The request whose body was still arriving when the signal came is answered.
        status, headers, body = finish_upload(upload, many)
        assert status == 200 and len(body["predictions"]) == 40, body
        answered.append(headers["x-request-id"])
        code = proc.wait(GRACE_S)
        took = time.monotonic() - signalled
        for conn in (ready, idle, *(load.conn for load in loads)):
            conn.close()
    finally:
        stop_server(proc)
    assert code == 0, (tmp_path / "server.log").read_text()[-3000:]
    assert took < GRACE_S
    # Every answered request, the last one included, reached the Parquet files.
    table = _logged(folder)
    ok = table.filter(pa.compute.equal(table.column("status"), 200))
    logged = ok.column("request_id").to_pylist()
    assert set(logged) == set(answered)
    assert logged.count("slow-upload") == 40
    assert not list(folder.glob(".*.tmp"))


def test_a_second_sigterm_exits_at_once(bundles: Bundles, tmp_path: Path) -> None:
    root = _project(tmp_path, 60)
    url, proc = start_server(["--bundle", str(bundles.cancer)], root, tmp_path / "server.log")
    try:
        many = json.dumps({"records": records(bundles.rows.slice(0, 40))}).encode()
        upload = start_upload(url, many)  # in flight: a graceful stop would wait for it
        ready = http.client.HTTPConnection("127.0.0.1", _port(url), timeout=10)
        assert _get(ready, "/v2/health/ready") == 200
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert proc.poll() is None, "the first SIGTERM did not wait for the request in flight"
        assert _get(ready, "/v2/health/ready") == 503
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(5)
        took = time.monotonic() - signalled
        # The client in flight sees its connection closed, not a hang.
        upload.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert upload.recv(1) == b""
        upload.close()
        ready.close()
    except subprocess.TimeoutExpired:
        raise AssertionError("a second SIGTERM did not end the server") from None
    finally:
        stop_server(proc)
    assert code == 128 + signal.SIGTERM
    assert took < 1.0
    assert "second SIGTERM" in (tmp_path / "server.log").read_text()
