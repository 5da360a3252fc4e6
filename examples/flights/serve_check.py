"""Serve flights@production for a moment and ask it about a few flights (the end of `make demo`).

Starts `shipyard serve flights@production` on 127.0.0.1 (a free port), waits
until it is ready, sends the model's input example through `POST /predict` and
the Open Inference Protocol's model metadata route, prints what came back and
the URL it served on, then stops the server. The full server stays a command
away: `shipyard serve flights@production --port 8080`.

Usage::

    python serve_check.py [NAME@ALIAS]
"""

# ruff: noqa: S310 - every URL opened here is the http://127.0.0.1 server this script starts

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

READY_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as r:
        body: dict[str, object] = json.loads(r.read())
        return body


def main() -> int:
    ref = sys.argv[1] if len(sys.argv) > 1 else "flights@production"
    name = ref.partition("@")[0].partition(":")[0]
    shipyard = str(Path(sys.executable).with_name("shipyard"))
    shown = json.loads(
        subprocess.run(
            [shipyard, "models", "show", ref, "--json"], capture_output=True, text=True, check=True
        ).stdout
    )
    example = shown["properties"].get("input_example") or []
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(".shipyard") / "serve-check.log"
    log.parent.mkdir(exist_ok=True)
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [shipyard, "serve", ref, "--port", str(port), "--no-access-log"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                sys.stderr.write(f"the server did not start; its output:\n{log.read_text()}\n")
                return 1
            time.sleep(0.2)
        meta = _get(f"{url}/v2/models/{name}")
        request = urllib.request.Request(
            f"{url}/predict",
            data=json.dumps({"records": example}).encode(),
            headers={"Content-Type": "application/json"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as r:
            answer = json.loads(r.read())
            version = r.headers.get("X-Shipyard-Model-Version", answer.get("model_version"))
        took_ms = (time.perf_counter() - started) * 1000
        print(f"served {ref} (version {version}) at {url}")
        print(
            f"  V2 metadata: {len(meta.get('inputs', []))} inputs, outputs {[o['name'] for o in meta.get('outputs', [])]}"
        )  # type: ignore[union-attr, index]
        for row, pred in zip(example, answer["predictions"], strict=True):
            flight = f"{row.get('carrier', '?')}{row.get('flight', '')} {row.get('origin', '')}->{row.get('dest', '')}"
            print(f"  {flight:<22} dep_delay {row.get('dep_delay')!s:>5}: {pred}")
        print(f"  POST /predict answered in {took_ms:.1f} ms; try: curl {url}/v2/models/{name}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"stopped the server (start it again: shipyard serve {ref} --port 8080)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
