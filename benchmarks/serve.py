"""Benchmark of the model server against its peers and the practical ceilings of this machine.

One XGBoost model (28 float features, 200 trees of depth 6, trained on 200,000
synthetic rows with a fixed seed) served by, in one run, each with 2 worker
processes and ``OMP_NUM_THREADS=1``:

- ``shipyard``: ``shipyard serve --bundle`` (validation, transform, adaptive
  batching, metrics, access log to /dev/null, the prediction log writing
  Parquet to a temporary folder), answering ``POST /predict``;
- ``shipyard-nolog``: the same without the prediction log (``--log-dir``
  unset), for the cost of logging;
- ``mlflow``: ``mlflow models serve --env-manager local --workers 2`` on the
  model saved with ``mlflow.xgboost`` (with a signature), ``POST /invocations``
  with ``dataframe_split``; from its own virtual environment (``--mlflow-venv``);
- ``mlserver``: Seldon MLServer with its XGBoost runtime, ``parallel_workers``
  2, ``POST /v2/models/bench/infer`` with one FP32 tensor; from its own
  virtual environment (``--mlserver-venv``, with ``uvloop==0.21.0``);
- ``bare``: a Starlette app under uvicorn that parses JSON with orjson and
  calls ``booster.inplace_predict`` (a Python server without batching);
- ``no-model``: the same app answering without calling the model (the HTTP
  ceiling of this machine).

A peer whose virtual environment is missing is skipped with the reason
printed (and ``"skipped"`` in the JSON). Load comes from wrk (one thread, a
Lua script rotating pre-built requests) when it is on PATH, else from an
asyncio load generator in this process: single rows at concurrency 1 and 32,
and 100-row requests at concurrency 8, for ``--seconds`` each after a warm-up.
Every server's answers are checked against ``booster.predict`` before timing.
All servers run at once, and each round measures every server in turn (each
round starting with the next server), so that a change of load on the machine
hits them alike; the figures are the
medians over ``--rounds``. Prints requests/s, p50 and p99 side by side with
ratios to the bare app, then one line of JSON.

    .venv/bin/python benchmarks/serve.py [--seconds 15] [--rounds 3]
        [--mlflow-venv /work/peers/mlflow] [--mlserver-venv /work/peers/mlserver]
        [--generator auto|wrk|asyncio]

Setting up the peers (outside the repository; never project dependencies)::

    python3.11 -m venv /work/peers/mlflow
    /work/peers/mlflow/bin/pip install mlflow xgboost==3.2.0
    python3.11 -m venv /work/peers/mlserver
    /work/peers/mlserver/bin/pip install mlserver mlserver-xgboost uvloop==0.21.0 xgboost==3.2.0
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = 28
NAMES = [f"f{i}" for i in range(FEATURES)]
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

# Run with the MLflow environment's python: the model saved by MLflow's own xgboost flavor.
MLFLOW_SAVE = textwrap.dedent(
    """
    import sys

    import mlflow.xgboost
    import numpy as np
    import pandas as pd
    import xgboost
    from mlflow.models import infer_signature

    booster = xgboost.Booster(model_file=sys.argv[1])
    x = pd.DataFrame(np.load(sys.argv[2]).astype(np.float64), columns=booster.feature_names)
    signature = infer_signature(x, booster.predict(xgboost.DMatrix(x)))
    mlflow.xgboost.save_model(booster, sys.argv[3], signature=signature)
    """
)

# wrk: requests built in init (after wrk has set the Host header), one body per line.
WRK_SCRIPT = textwrap.dedent(
    """
    local path = os.getenv("BENCH_PATH")
    local bodies = os.getenv("BENCH_BODIES")
    local requests_ = {}
    local n = 0
    local i = 0

    function init(args)
      for line in io.lines(bodies) do
        n = n + 1
        requests_[n] = wrk.format("POST", path, {["Content-Type"] = "application/json"}, line)
      end
    end

    function request()
      i = i % n + 1
      return requests_[i]
    end

    function done(summary, latency, requests)
      local e = summary.errors
      io.write(string.format(
        "WRK {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %.1f, \\"p99_us\\": %.1f,"
        .. " \\"status_errors\\": %d, \\"socket_errors\\": %d}\\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.status, e.connect + e.read + e.write + e.timeout))
    end
    """
)

SCENARIOS = [("1 row, c=1", 1, 1), ("1 row, c=32", 1, 32), ("100 rows, c=8", 100, 8)]
LOG_SCENARIO = "1 row, c=32"


@dataclass
class Server:
    """One server of the run: how to start it, how to ask it, what it is measured on."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    protocol: str  # predict | mlflow | v2
    model: bool = True
    scenarios: list[str] = field(default_factory=lambda: [s[0] for s in SCENARIOS])
    port: int = 0
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None


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
    data = xgboost.DMatrix(x, label=y, feature_names=NAMES)
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
        example = [dict(zip(NAMES, map(float, r), strict=True)) for r in rows[:3]]
        version = shipyard.register_model(
            booster, name="bench", signature=NAMES, example=example, project=project
        )
        return Path(project.artifacts.path(version.artifact))
    finally:
        project.close()


# -- the peers --------------------------------------------------------------------------


def venv_problem(venv: Path, executable: str, module: str) -> str | None:
    """Why the peer's virtual environment cannot run, or None."""
    python, exe = venv / "bin" / "python", venv / "bin" / executable
    if not python.is_file() or not exe.is_file():
        return f"no {exe} (create the venv: see this script's docstring)"
    found = subprocess.run(
        [str(python), "-c", f"import {module}, xgboost"], capture_output=True, timeout=120
    )
    if found.returncode != 0:
        return f"{python} cannot import {module} and xgboost"
    return None


def peer_env(env: dict[str, str], venv: Path) -> dict[str, str]:
    # `mlflow models serve` calls a bare `uvicorn`: the venv's bin must come first on PATH.
    out = {k: v for k, v in env.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    out["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    out["VIRTUAL_ENV"] = str(venv)
    return out


def mlflow_server(tmp: Path, venv: Path, env: dict[str, str]) -> Server:
    (tmp / "mlflow_save.py").write_text(MLFLOW_SAVE)
    model_dir = tmp / "mlflow-model"
    penv = peer_env(env, venv)
    saved = subprocess.run(
        [str(venv / "bin" / "python"), str(tmp / "mlflow_save.py"), str(tmp / "model.ubj")]
        + [str(tmp / "rows.npy"), str(model_dir)],
        env=penv,
        cwd=tmp,
        capture_output=True,
        timeout=300,
    )
    if saved.returncode != 0:
        raise RuntimeError(f"saving the model with mlflow.xgboost failed: {saved.stderr[-500:]!r}")
    cmd = [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir)]
    cmd += ["--env-manager", "local", "--workers", "2", "--host", "127.0.0.1"]
    return Server("mlflow", cmd, penv, "mlflow", cwd=tmp)


def mlserver_server(tmp: Path, venv: Path, env: dict[str, str], booster: Any) -> Server:
    folder = tmp / "mlserver"
    folder.mkdir()
    # The runtime decodes a V2 tensor to a NumPy array: a booster keeping the feature names
    # would refuse it, so MLServer gets the same trees without them.
    plain = booster.copy()
    plain.feature_names = None
    plain.save_model(folder / "model.json")
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "bench",
                "implementation": "mlserver_xgboost.XGBoostModel",
                "parameters": {"uri": "./model.json", "version": "1"},
            }
        )
    )
    settings = {
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": 2,
        "host": "127.0.0.1",
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    cmd = [str(venv / "bin" / "mlserver"), "start", str(folder)]
    return Server("mlserver", cmd, peer_env(env, venv), "v2", cwd=folder)


# -- requests ---------------------------------------------------------------------------


def request_path(server: Server) -> str:
    return {"predict": "/predict", "mlflow": "/invocations", "v2": "/v2/models/bench/infer"}[
        server.protocol
    ]


def request_body(protocol: str, rows: np.ndarray) -> bytes:
    values = rows.astype(np.float64).tolist()
    if protocol == "mlflow":
        payload: Any = {"dataframe_split": {"columns": NAMES, "data": values}}
    elif protocol == "v2":
        flat = [v for row in values for v in row]
        tensor = {"name": "input-0", "shape": list(rows.shape), "datatype": "FP32", "data": flat}
        payload = {"inputs": [tensor]}
    else:
        payload = {"records": [dict(zip(NAMES, row, strict=True)) for row in values]}
    return json.dumps(payload).encode()


def probabilities(protocol: str, answer: Any) -> np.ndarray:
    """The P(class 1) of each row in a server's answer."""
    if protocol == "mlflow":
        got = answer["predictions"]
        if got and isinstance(got[0], dict):
            got = [next(iter(p.values())) for p in got]
        return np.asarray(got, dtype=np.float64).reshape(-1)
    if protocol == "v2":
        return np.asarray(answer["outputs"][0]["data"], dtype=np.float64).reshape(-1)
    return np.array([p["probability"] for p in answer["predictions"]])


def http_bytes(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n"):
        lower = line.lower()
        if lower[:15] == b"content-length:":
            length = int(line[15:])
        elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def one(port: int, payload: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    out = await _read_response(reader)
    writer.close()
    await writer.wait_closed()
    return out


# -- load generators --------------------------------------------------------------------


async def asyncio_load(
    port: int, payloads: list[bytes], concurrency: int, seconds: float
) -> dict[str, float]:
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


def wrk_load(
    script: Path, port: int, path: str, bodies: Path, concurrency: int, seconds: float
) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
    cmd += ["-s", str(script), f"http://127.0.0.1:{port}"]
    env = {**os.environ, "BENCH_PATH": path, "BENCH_BODIES": str(bodies)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
    for line in done.stdout.splitlines():
        if line.startswith("WRK "):
            r = json.loads(line[4:])
            return {
                "rps": r["requests"] / (r["duration_us"] / 1e6),
                "p50_ms": r["p50_us"] / 1000,
                "p99_ms": r["p99_us"] / 1000,
                "errors": r["status_errors"] + r["socket_errors"],
            }
    raise RuntimeError(f"wrk gave no result: {done.stdout[-300:]} {done.stderr[-300:]}")


# -- running ----------------------------------------------------------------------------


def start(server: Server, tmp: Path) -> None:
    server.port = free_port()
    cmd = list(server.cmd)
    if server.protocol == "v2":  # MLServer: the port goes in settings.json
        assert server.cwd is not None
        settings_path = server.cwd / "settings.json"
        settings = json.loads(settings_path.read_text())
        settings["http_port"] = server.port
        settings_path.write_text(json.dumps(settings))
    else:
        cmd += ["--port", str(server.port)]
    # Shipyard's access log (on by default) goes to /dev/null; the others' output to a file.
    log_path = tmp / f"{server.name}.log"
    out = subprocess.DEVNULL if server.name.startswith("shipyard") else open(log_path, "wb")  # noqa: SIM115
    server.proc = subprocess.Popen(
        cmd, env=server.env, cwd=server.cwd or tmp, stdout=out, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    tail = log_path.read_bytes()[-800:].decode(errors="replace") if log_path.exists() else ""
    raise RuntimeError(f"{server.name} did not start:\n{tail}")


def check(server: Server, rows: np.ndarray, want: np.ndarray) -> None:
    """Compare the server's answers with booster.predict (waiting for it to be ready)."""
    payload = http_bytes(server.port, request_path(server), request_body(server.protocol, rows))
    deadline = time.monotonic() + 90
    while True:
        try:
            status, body = asyncio.run(one(server.port, payload))
        except OSError:
            status, body = 0, b""
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # models still loading
    if status != 200:
        raise RuntimeError(f"{server.name} answered {status}: {body[:300]!r}")
    got = probabilities(server.protocol, json.loads(body))
    if server.model and (got.shape != want.shape or not np.allclose(got, want, atol=1e-6)):
        raise RuntimeError(f"{server.name}'s answers differ from booster.predict")
    time.sleep(1.0)  # every worker loaded
    what = "answers checked against booster.predict" if server.model else "answers"
    print(f"  {server.name}: {what} ({len(want)} rows)")


def measure(
    server: Server,
    rows: np.ndarray,
    n_rows: int,
    concurrency: int,
    seconds: float,
    generator: str,
    tmp: Path,
) -> dict[str, float]:
    bodies = [
        request_body(server.protocol, rows[i : i + n_rows])
        for i in range(0, len(rows) - n_rows + 1, n_rows)
    ][: 256 if n_rows == 1 else 10]
    path = request_path(server)
    if generator == "wrk":
        bodies_file = tmp / f"bodies-{server.protocol}-{n_rows}.txt"
        if not bodies_file.exists():
            bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
        return wrk_load(tmp / "load.lua", server.port, path, bodies_file, concurrency, seconds)
    payloads = [http_bytes(server.port, path, b) for b in bodies]
    return asyncio.run(asyncio_load(server.port, payloads, concurrency, seconds))


def stop(server: Server) -> None:
    if server.proc is not None and server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            server.proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, first round only")
    parser.add_argument("--rounds", type=int, default=1, help="medians over this many rounds")
    parser.add_argument("--mlflow-venv", type=Path, default=Path("/work/peers/mlflow"))
    parser.add_argument("--mlserver-venv", type=Path, default=Path("/work/peers/mlserver"))
    parser.add_argument("--generator", choices=["auto", "wrk", "asyncio"], default="auto")
    parser.add_argument("--only", nargs="*", help="run only these servers (and bare)")
    args = parser.parse_args()
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "asyncio"
    load_before = os.getloadavg()[0]
    if load_before > (os.cpu_count() or 1) / 2:
        print(f"note: load average {load_before:.1f} at the start; figures will be lower")
    print(f"load generator: {generator}")
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-serve-"))
    servers: list[Server] = []
    skipped: dict[str, str] = {}
    try:
        print("training the model (200,000 rows, 200 trees, depth 6) ...")
        booster, rows = train(tmp)
        import xgboost

        np.save(tmp / "rows.npy", rows[:100])
        want = booster.predict(xgboost.DMatrix(rows[:100], feature_names=booster.feature_names))
        bundle = make_bundle(tmp, booster, rows)
        (tmp / "bare_app.py").write_text(BARE_APP)
        (tmp / "load.lua").write_text(WRK_SCRIPT)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "BARE_MODEL": str(tmp / "model.ubj")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        uvicorn = [sys.executable, "-m", "uvicorn", "bare_app:app", "--workers", "2"]
        uvicorn += ["--no-access-log", "--log-level", "warning", "--app-dir", str(tmp)]
        # The same TCP_NODELAY fix as Shipyard's (shipyard/serve/_tcp.py): without it uvicorn's
        # worker processes wait 40 ms for delayed ACKs and every server measures that instead.
        uvicorn += ["--http", "shipyard.serve._tcp:NoDelayHTTPProtocol"]
        shipyard_cmd = [SHIPYARD, "serve", "--bundle", str(bundle), "--workers", "2"]
        servers = [
            Server(
                "shipyard",
                [*shipyard_cmd, "--log-dir", str(tmp / "predictions")],
                env,
                "predict",
            ),
            Server("shipyard-nolog", shipyard_cmd, env, "predict"),
        ]
        peers = [
            ("mlflow", args.mlflow_venv, "mlflow", "mlflow"),
            ("mlserver", args.mlserver_venv, "mlserver", "mlserver_xgboost"),
        ]
        for name, venv, exe, module in peers:
            if args.only is not None and name not in args.only:
                continue
            problem = venv_problem(venv, exe, module)
            if problem is None:
                try:
                    if name == "mlflow":
                        servers.append(mlflow_server(tmp, venv, env))
                    else:
                        servers.append(mlserver_server(tmp, venv, env, booster))
                    continue
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    problem = str(exc)
            skipped[name] = problem
            print(f"  {name}: skipped: {problem}")
        servers += [
            Server("bare", uvicorn, {**env, "BARE_MODE": "model"}, "predict"),
            Server("no-model", uvicorn, {**env, "BARE_MODE": "none"}, "predict", model=False),
        ]
        if args.only is not None:
            keep = {*args.only, "bare"}
            servers = [s for s in servers if s.name in keep]
        for server in list(servers):
            try:
                start(server, tmp)
                check(server, rows[:100], want)
            except RuntimeError as exc:
                if server.name not in ("mlflow", "mlserver"):
                    raise
                stop(server)
                servers.remove(server)
                skipped[server.name] = str(exc).splitlines()[0]
                print(f"  {server.name}: skipped: {exc}")
        runs: dict[str, dict[str, list[dict[str, float]]]] = {s.name: {} for s in servers}
        for round_ in range(args.rounds):
            print(f"round {round_ + 1} of {args.rounds} (load average {os.getloadavg()[0]:.2f})")
            # Each round starts with a different server, so that none is always measured first.
            shift = round_ % len(servers)
            for server in servers[shift:] + servers[:shift]:
                for label, n_rows, concurrency in SCENARIOS:
                    if label not in server.scenarios:
                        continue
                    if round_ == 0 and args.warmup > 0:
                        measure(server, rows, n_rows, concurrency, args.warmup, generator, tmp)
                    r = measure(server, rows, n_rows, concurrency, args.seconds, generator, tmp)
                    runs[server.name].setdefault(label, []).append(r)
                    print(
                        f"  {server.name:14s} {label:14s} {r['rps']:9,.0f} req/s"
                        f"  p50 {r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms"
                        f"  errors {r['errors']:.0f}"
                    )
        load_after = os.getloadavg()[0]
        results: dict[str, Any] = {
            name: {
                label: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                for label, rs in by_label.items()
            }
            for name, by_label in runs.items()
        }
        log_cost = report(results, servers)
        for name, reason in skipped.items():
            results[name] = {"skipped": reason}
        print(
            json.dumps(
                {
                    "benchmark": "serve",
                    "date": time.strftime("%Y-%m-%d"),
                    "cpus": os.cpu_count(),
                    "generator": generator,
                    "seconds": args.seconds,
                    "rounds": args.rounds,
                    "load_before": round(load_before, 2),
                    "load_after": round(load_after, 2),
                    "log_cost": log_cost,
                    "results": results,
                }
            )
        )
    finally:
        for server in servers:
            stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict[str, Any], servers: list[Server]) -> float | None:
    """Print the side-by-side table and the goals; return the prediction log's cost."""
    print()
    print(f"{'scenario':15s} {'server':14s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s}  vs bare")
    for label, _, _ in SCENARIOS:
        bare = results["bare"][label]
        for server in servers:
            r = results[server.name].get(label)
            if r is None:
                continue
            print(
                f"{label:15s} {server.name:14s} {r['rps']:9,.0f} {r['p50_ms']:8.2f}"
                f" {r['p99_ms']:8.2f}  {r['rps'] / bare['rps']:.2f}x req/s,"
                f" {r['p50_ms'] / bare['p50_ms']:.2f}x p50"
            )
    if "bare" not in results:
        return None
    b = results["bare"]
    goals = []
    for name in ("shipyard", "shipyard-nolog"):
        s = results.get(name)
        if s is None:
            continue
        goals += [
            (f"c=32: {name} faster than bare", s["1 row, c=32"]["rps"] > b["1 row, c=32"]["rps"]),
            (
                f"c=1: {name} p50 at most 1.5x bare",
                s["1 row, c=1"]["p50_ms"] <= 1.5 * b["1 row, c=1"]["p50_ms"],
            ),
            (
                f"100 rows: {name} at least 0.9x bare",
                s["100 rows, c=8"]["rps"] >= 0.9 * b["100 rows, c=8"]["rps"],
            ),
        ]
        if "no-model" in results:
            ceiling = results["no-model"]["1 row, c=32"]["rps"]
            goals.append(
                (f"c=32: {name} at half the HTTP ceiling", s["1 row, c=32"]["rps"] >= 0.5 * ceiling)
            )
    cost = None
    if "shipyard" in results and "shipyard-nolog" in results:
        on, off = (
            results["shipyard"][LOG_SCENARIO]["rps"],
            results["shipyard-nolog"][LOG_SCENARIO]["rps"],
        )
        cost = 1 - on / off
        print()
        print(
            f"prediction log at {LOG_SCENARIO}: {on:,.0f} req/s with it, {off:,.0f} without:"
            f" it costs {cost:.1%} of the throughput"
        )
        goals.append(("prediction log costs under 5% of throughput", cost < 0.05))
    print()
    for goal, met in goals:
        print(f"{'met   ' if met else 'MISSED'} {goal}")
    return None if cost is None else round(cost, 4)


if __name__ == "__main__":
    main()
