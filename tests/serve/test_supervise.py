"""A worker killed under load is replaced (RELIABILITY 19); several workers drain together.

``shipyard serve --bundle --workers 2`` serves while clients send requests;
one worker gets ``kill -9``. Requests on its connections fail at once with a
connection error (never a hang: the clients' timeouts would show it), the
other worker keeps answering, and within seconds a replacement serves beside
it: fresh connections are answered by two worker processes again (each
request id starts with the answering worker's pid in hex). SIGTERM then stops
both workers and the supervisor with status 0; a second signal exits at once.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

from ..conftest import cli
from .conftest import Bundles, records, start_server, stop_server

# What a client sees when the worker holding its connection dies: the connection
# closed or reset, before or while the answer is written (IncompleteRead).
_DISCONNECTS = {"ConnectionResetError", "RemoteDisconnected", "BrokenPipeError", "IncompleteRead"}


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _worker_pid(request_id: str) -> int:
    return int(request_id.split("-", 1)[0], 16)


def _pids_answering(url: str, payload: bytes, want: set[int], timeout_s: float) -> set[int]:
    """Worker pids seen over fresh connections, until ``want`` are all seen or time is up."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while not want <= seen and time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", _port(url), timeout=5)
        try:
            conn.request("POST", "/predict", payload, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                seen.add(_worker_pid(r.getheader("X-Request-Id") or ""))
        except OSError:
            time.sleep(0.05)
        finally:
            conn.close()
    return seen


class Load(threading.Thread):
    """Sends /predict on a keep-alive connection until stopped; reconnects after an error."""

    def __init__(self, url: str, payload: bytes, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port = _port(url)
        self.payload = payload
        self.stop = stop
        self.ok: list[tuple[float, int]] = []  # (time, worker pid)
        self.errors: list[tuple[float, str]] = []
        self.slowest = 0.0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                conn.request("POST", "/predict", self.payload, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
            except Exception as exc:  # noqa: BLE001 - recorded and asserted on
                self.errors.append((time.monotonic(), type(exc).__name__))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                continue
            finally:
                self.slowest = max(self.slowest, time.monotonic() - start)
            if r.status == 200:
                self.ok.append((time.monotonic(), _worker_pid(r.getheader("X-Request-Id") or "")))
            else:
                self.errors.append((time.monotonic(), f"status {r.status}"))
        conn.close()


def _started(log: Path) -> list[int]:
    return [int(p) for p in re.findall(r"worker (\d+) started", log.read_text())]


def test_a_worker_killed_under_load_is_replaced(bundles: Bundles, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    url, proc = start_server(
        ["--bundle", str(bundles.cancer), "--workers", "2", "--no-access-log"], tmp_path, log
    )
    stop = threading.Event()
    loads: list[Load] = []
    try:
        payload = json.dumps({"records": records(bundles.rows.slice(0, 2))}).encode()
        first = _started(log)
        assert len(first) == 2, log.read_text()[-3000:]
        assert _pids_answering(url, payload, set(first), 60) == set(first)
        victim, survivor = first
        loads = [Load(url, payload, stop) for _ in range(6)]
        for load in loads:
            load.start()
        time.sleep(1.0)
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        time.sleep(1.0)
        # The other worker kept answering meanwhile.
        during = {pid for load in loads for t, pid in load.ok if killed + 0.2 < t}
        assert survivor in during and victim not in during
        deadline = killed + 30
        while len(_started(log)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        new = [pid for pid in _started(log) if pid not in first]
        assert len(new) == 1, log.read_text()[-3000:]
        assert f"worker {victim} died (signal 9)" in log.read_text()
        seen = _pids_answering(url, payload, {survivor, new[0]}, 30)
        replaced = time.monotonic() - killed
        assert seen == {survivor, new[0]}, (seen, log.read_text()[-3000:])
        stop.set()
        for load in loads:
            load.join(10)
            assert not load.is_alive(), "a client hung"
        errors = [e for load in loads for _, e in load.errors]
        # Only connections of the killed worker failed, each once, with a connection error.
        assert set(errors) <= _DISCONNECTS, errors
        assert len(errors) <= len(loads)
        assert max(load.slowest for load in loads) < 5
        print(
            f"replacement serving {replaced:.1f} s after kill -9; {len(errors)} request(s) failed"
        )

        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        took = time.monotonic() - signalled
    finally:
        stop.set()
        stop_server(proc)
    assert code == 0, log.read_text()[-3000:]
    assert took < 10
    assert all(_gone(pid) for pid in (survivor, new[0]))


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return ""


def test_a_second_signal_stops_every_worker_at_once(bundles: Bundles, tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text("project:\n  name: two\nserve:\n  grace_period_s: 60\n")
    log = tmp_path / "server.log"
    url, proc = start_server(["--bundle", str(bundles.cancer), "--workers", "2"], tmp_path, log)
    try:
        pids = _started(log)
        body = json.dumps({"records": records(bundles.rows.slice(0, 10))}).encode()
        assert _pids_answering(url, body, set(pids), 60) == set(pids)  # both serve
        # A request in flight (part of its body sent) keeps its worker draining.
        sock = socket.create_connection(("127.0.0.1", _port(url)), timeout=10)
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        assert proc.poll() is None, log.read_text()[-3000:]  # waiting for the request
        signalled = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(5)
        took = time.monotonic() - signalled
        sock.close()
    finally:
        stop_server(proc)
    assert code == 128 + signal.SIGINT, log.read_text()[-3000:]
    assert took < 2.5, (took, log.read_text()[-3000:])
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not all(_gone(pid) for pid in pids):
        time.sleep(0.1)
    assert all(_gone(pid) for pid in pids), "a worker outlived the server"


def test_workers_that_cannot_load_their_model_stop_the_server(
    bundles: Bundles, tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(bundles.cancer, broken)
    files = [p for p in broken.rglob("*") if p.is_file() and p.name != "bundle.json"]
    model = max(files, key=lambda p: p.stat().st_size)
    model.chmod(0o644)
    model.write_bytes(model.read_bytes()[:-1] + b"x")  # no longer its digest
    start = time.monotonic()
    r = cli("serve", "--bundle", str(broken), "--workers", "2", cwd=tmp_path, timeout=60)
    out = r.stdout + r.stderr
    # Exit status 3 (uvicorn's startup failure), not a loop of replacements.
    assert r.returncode == 3, out[-3000:]
    assert "failed to start" in out and "starting a replacement" not in out
    assert time.monotonic() - start < 45


def test_workers_drain_and_exit_when_their_supervisor_is_killed(
    bundles: Bundles, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    url, proc = start_server(["--bundle", str(bundles.cancer), "--workers", "2"], tmp_path, log)
    try:
        pids = _started(log)
        assert len(pids) == 2
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(_gone(pid) for pid in pids):
            time.sleep(0.1)
    finally:
        stop_server(proc)
    assert all(_gone(pid) for pid in pids), "a worker outlived its supervisor"
    assert "is gone: draining" in log.read_text()


def _gone(pid: int) -> bool:
    """No such process, or one that has exited and waits to be reaped."""
    for line in _state(pid).splitlines():
        if line.startswith("State:"):
            return "Z" in line.split()[1]
    return True
