"""Benchmark of the model server against the practical ceilings of this machine.

One XGBoost model (28 float features, 200 trees of depth 6, trained on 200,000
synthetic rows with a fixed seed) served by, in one run, each with 2 worker
processes and ``OMP_NUM_THREADS=1``:

- ``shipyard``: ``shipyard serve --bundle`` (validation, transform, adaptive
  batching, metrics, access log to /dev/null), answering ``POST /predict``;
- ``bare``: a Starlette app under uvicorn that parses JSON with orjson and
  calls ``booster.inplace_predict`` (a Python server without batching);
- ``no-model``: the same app answering without calling the model (the HTTP
  ceiling of this machine).

Load comes from a bounded load generator on loopback in this process (asyncio,
keep-alive connections, pre-built requests; wrk is not installed here): single
rows at concurrency 1 and 32, and 100-row requests at concurrency 8, for
``--seconds`` each after a warm-up. Every server's answers are checked against
``booster.predict`` before timing. Prints requests/s, p50 and p99 side by side
with ratios to the bare app, then one line of JSON.

    .venv/bin/python benchmarks/serve.py [--seconds 15] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = 28
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))

BARE_APP = textwrap.dedent(
    """
    import os

    import numpy as np
    import orjson
    import xgboost
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    NAMES = [f"f{i}" for i in range(28)]
    CALL_MODEL = os.environ["BARE_MODE"] == "model"
    booster = xgboost.Booster(model_file=os.environ["BARE_MODEL"])
    booster.set_param({"nthread": 1})


    async def predict(request):
        records = orjson.loads(await request.body())["records"]
        x = np.array([[r[n] for n in NAMES] for r in records], dtype=np.float32)
        if CALL_MODEL:
            p = booster.inplace_predict(x)
        else:
            p = np.zeros(len(x))
        out = [{"probability": float(v), "label": int(v >= 0.5)} for v in p]
        return Response(orjson.dumps({"predictions": out}), media_type="application/json")


    app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def train(folder: Path) -> tuple[Any, np.ndarray]:
    import xgboost

    rng = np.random.default_rng(42)
    x = rng.normal(size=(200_000, FEATURES)).astype(np.float32)
    w = rng.normal(size=FEATURES)
    y = ((x @ w + rng.normal(scale=2.0, size=len(x))) > 0).astype(np.int32)
    names = [f"f{i}" for i in range(FEATURES)]
    data = xgboost.DMatrix(x, label=y, feature_names=names)
    params = {"objective": "binary:logistic", "max_depth": 6, "nthread": os.cpu_count() or 1}
    booster = xgboost.train(params, data, num_boost_round=200)
    booster.save_model(folder / "model.ubj")
    return booster, x[:1000]


def make_bundle(folder: Path, booster: Any, rows: np.ndarray) -> Path:
    import shipyard
    from shipyard.pipeline.project import Project

    project_dir = folder / "project"
    project_dir.mkdir()
    (project_dir / "shipyard.yaml").write_text("project:\n  name: bench\n")
    project = Project.discover(project_dir)
    try:
        names = [f"f{i}" for i in range(FEATURES)]
        example = [dict(zip(names, map(float, r), strict=True)) for r in rows[:3]]
        version = shipyard.register_model(
            booster, name="bench", signature=names, example=example, project=project
        )
        return Path(project.artifacts.path(version.artifact))
    finally:
        project.close()


def start(cmd: list[str], port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                time.sleep(1.0)  # let every worker finish loading
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd[0]} did not start")


def request_bytes(port: int, rows: np.ndarray) -> bytes:
    names = [f"f{i}" for i in range(FEATURES)]
    body = json.dumps(
        {"records": [dict(zip(names, map(float, r), strict=True)) for r in rows]}
    ).encode()
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def one(port: int, payload: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    out = await _read_response(reader)
    writer.close()
    await writer.wait_closed()
    return out


async def load(
    port: int, payloads: list[bytes], concurrency: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.perf_counter() < stop:
                payload = payloads[i % len(payloads)]
                i += concurrency
                t0 = time.perf_counter()
                writer.write(payload)
                status, _ = await _read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "errors": errors,
    }


def check(name: str, port: int, rows: np.ndarray, want: np.ndarray, model: bool) -> None:
    status, body = asyncio.run(one(port, request_bytes(port, rows)))
    if status != 200:
        raise RuntimeError(f"{name} answered {status}: {body[:200]!r}")
    got = np.array([p["probability"] for p in json.loads(body)["predictions"]])
    if model and not np.allclose(got, want, atol=1e-6):
        raise RuntimeError(f"{name} answers differ from booster.predict")
    print(f"  {name}: answers checked against booster.predict" if model else f"  {name}: ok")


SCENARIOS = [("1 row, c=1", 1, 1), ("1 row, c=32", 1, 32), ("100 rows, c=8", 100, 8)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=1, help="medians over this many rounds")
    args = parser.parse_args()
    load1 = os.getloadavg()[0]
    if load1 > (os.cpu_count() or 1) / 2:
        print(f"note: load average {load1:.1f} at the start; figures will be lower")
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-serve-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        print("training the model (200,000 rows, 200 trees, depth 6) ...")
        booster, rows = train(tmp)
        import xgboost

        want = booster.predict(xgboost.DMatrix(rows[:100], feature_names=booster.feature_names))
        bundle = make_bundle(tmp, booster, rows)
        (tmp / "bare_app.py").write_text(BARE_APP)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "BARE_MODEL": str(tmp / "model.ubj")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        uvicorn = [sys.executable, "-m", "uvicorn", "bare_app:app", "--workers", "2"]
        uvicorn += ["--no-access-log", "--log-level", "warning", "--app-dir", str(tmp)]
        # The same TCP_NODELAY fix as Shipyard's (shipyard/serve/_tcp.py): without it uvicorn's
        # worker processes wait 40 ms for delayed ACKs and every server measures that instead.
        uvicorn += ["--http", "shipyard.serve._tcp:NoDelayHTTPProtocol"]
        servers: dict[str, tuple[list[str], dict[str, str], bool]] = {
            "shipyard": (
                [SHIPYARD, "serve", "--bundle", str(bundle), "--workers", "2"],
                env,
                True,
            ),
            "bare": (uvicorn, {**env, "BARE_MODE": "model"}, True),
            "no-model": (uvicorn, {**env, "BARE_MODE": "none"}, False),
        }
        results: dict[str, dict[str, dict[str, float]]] = {}
        for name, (cmd, server_env, model) in servers.items():
            port = free_port()
            full = [*cmd, "--port", str(port)]
            proc = start(full, port, server_env, tmp)
            procs.append(proc)
            check(name, port, rows[:100], want, model)
            results[name] = {}
            for label, n_rows, concurrency in SCENARIOS:
                payloads = [
                    request_bytes(port, rows[i : i + n_rows])
                    for i in range(0, 1000 - n_rows + 1, n_rows)
                ][:256]
                asyncio.run(load(port, payloads, concurrency, args.warmup))
                rounds = [
                    asyncio.run(load(port, payloads, concurrency, args.seconds))
                    for _ in range(args.rounds)
                ]
                results[name][label] = {
                    k: statistics.median(r[k] for r in rounds) for k in rounds[0]
                }
                r = results[name][label]
                print(
                    f"  {name:9s} {label:14s} {r['rps']:9,.0f} req/s  p50 {r['p50_ms']:7.2f} ms"
                    f"  p99 {r['p99_ms']:7.2f} ms  errors {r['errors']:.0f}"
                )
            proc.terminate()
            proc.wait(30)
        print()
        print(
            f"{'scenario':15s} {'server':9s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s}  vs bare"
        )
        for label, _, _ in SCENARIOS:
            bare = results["bare"][label]
            for name in servers:
                r = results[name][label]
                print(
                    f"{label:15s} {name:9s} {r['rps']:9,.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}"
                    f"  {r['rps'] / bare['rps']:.2f}x req/s, {r['p50_ms'] / bare['p50_ms']:.2f}x p50"
                )
        s, b, ceiling = (results[n] for n in ("shipyard", "bare", "no-model"))
        goals = [
            ("c=32: shipyard faster than bare", s["1 row, c=32"]["rps"] > b["1 row, c=32"]["rps"]),
            (
                "c=1: p50 at most 1.5x bare",
                s["1 row, c=1"]["p50_ms"] <= 1.5 * b["1 row, c=1"]["p50_ms"],
            ),
            (
                "100 rows: at least 0.9x bare",
                s["100 rows, c=8"]["rps"] >= 0.9 * b["100 rows, c=8"]["rps"],
            ),
            (
                "c=32: half the HTTP ceiling",
                s["1 row, c=32"]["rps"] >= 0.5 * ceiling["1 row, c=32"]["rps"],
            ),
        ]
        print()
        for goal, met in goals:
            print(f"{'met   ' if met else 'MISSED'} {goal}")
        print(json.dumps({"cpus": os.cpu_count(), "results": results}))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
