"""The live half of `make demo`: serve, replay later months, monitor, retrain, switch.

1. Serves flights@production (trained with AS_OF 2013-07-01: January to June)
   with `shipyard serve` on 127.0.0.1 and a free port.
2. Replays a sample of the flights of July, August and September through
   `POST /predict` (replay.py), so the server's prediction log holds them.
3. Stores the replayed flights' labels (`shipyard monitor labels`), as if
   they had arrived later.
4. Runs `shipyard monitor run --once` "on 2013-10-01" (AS_OF and EVAL_FROM
   set for it): one window per month, each compared with the training data;
   the summer weather drifts, and the alert rule of shipyard.yaml retrains on
   the newest data. The gate judges the new model on September, and a blessed
   one moves to production.
5. Waits until the running server has switched to the new version by itself,
   asks it again, runs the behavioural probes of shipyard.yaml against it
   (`shipyard monitor probe`), prints `shipyard monitor status`, the report
   paths and a summary, and stops the server.

Usage::

    python live.py
"""

# ruff: noqa: S310 - every URL opened here is the http://127.0.0.1 server this script starts

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import replay

READY_TIMEOUT_S = 60
SWITCH_TIMEOUT_S = 30
MONTHS = ["2013-07", "2013-08", "2013-09"]
ROWS_PER_MONTH = 2000  # monitor.window.rows in shipyard.yaml: a window is a month
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))
LATER = {"AS_OF": "2013-10-01", "EVAL_FROM": "2013-09-01"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as r:
        body: dict[str, object] = json.loads(r.read())
        return body


def _shipyard(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [SHIPYARD, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"shipyard {' '.join(args)} failed (exit code {done.returncode})")
    return done.stdout


def _wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server did not start; its output:\n{log.read_text()}")
        time.sleep(0.2)


def _served_version(url: str) -> str:
    return str(_get(f"{url}/v2/models/flights")["versions"][0])  # type: ignore[index]


def _summary(url: str, before: str, after: str) -> str:
    from shipyard.monitor.alerts import list_actions
    from shipyard.pipeline.project import Project

    project = Project.discover()
    try:
        retrains = [
            a for a in list_actions(project.metadata, "flights") if a["action"] == "retrain"
        ]
    finally:
        project.close()
    lines = [
        "\nsummary:",
        f"  served flights@production on {url}: version {before}"
        + (f", then {after} (switched while serving)" if after != before else ""),
        f"  replayed {len(MONTHS) * ROWS_PER_MONTH:,} flights of {MONTHS[0]} to {MONTHS[-1]}",
    ]
    if retrains:
        last = retrains[-1]
        rule, detail = last["rule"], last["detail"]
        lines.append(
            f"  retrained after window {last['window_id']} ({rule['matched']}={rule['value']:.2f}"
            f" above {rule['threshold']:g} for {rule['windows']} windows): run"
            f" {str(detail.get('run_id'))[:8]}, {last['status']}"
            + (f" version {detail.get('version')}" if detail.get("version") else "")
        )
    lines += [
        "  monitor report:  .shipyard/monitor/flights/report.html (a page per window beside it)",
        "  alert actions:   shipyard monitor status; alias moves: shipyard models show flights",
        "  server log:      .shipyard/live-server.log",
    ]
    return "\n".join(lines)


def main() -> int:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(".shipyard") / "live-server.log"
    log.parent.mkdir(exist_ok=True)
    labels = Path(".shipyard") / "replayed-labels.parquet"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [SHIPYARD, "serve", "flights@production", "--port", str(port), "--no-access-log"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(url, server, log)
        before = _served_version(url)
        print(f"\nserving flights@production (version {before}) on {url}")
        first = replay.month_rows(MONTHS[0], 1).select(replay.request_columns(url)).to_pylist()
        answer, _ = replay.post(url, json.dumps({"records": first}).encode())
        print(f"  POST {url}/predict {{records: [{first[0]['flight_id']} ...]}} ->")
        print(f"  {json.dumps(answer)}")
        print(f"replaying {ROWS_PER_MONTH:,} flights of each of {', '.join(MONTHS)}:")
        table, versions = replay.replay(url, MONTHS, ROWS_PER_MONTH, batch=50)
        replay.pq.write_table(table, labels)
        print(
            "  answered by version " + ", ".join(f"{v} ({n} requests)" for v, n in versions.items())
        )
        time.sleep(2.5)  # the server writes its prediction log every second
        print(
            _shipyard(
                "monitor", "labels", str(labels), "--key", "flight_id", "--label-column", "late"
            ).rstrip()
        )
        print(f"\nshipyard monitor run --once, as if on {LATER['AS_OF']} (AS_OF, EVAL_FROM):")
        print(_shipyard("monitor", "run", "--once", env=LATER).rstrip())
        after = before
        deadline = time.monotonic() + SWITCH_TIMEOUT_S
        while after == before and time.monotonic() < deadline:
            time.sleep(0.5)
            after = _served_version(url)
        if after != before:
            _, versions = replay.replay(url, ["2013-10"], 200, batch=50)
            print(
                f"the server switched by itself: {before} -> {after}; October's flights answered"
                " by version " + ", ".join(versions)
            )
        else:
            print(f"the server still serves version {before} (no new version was promoted)")
        print(f"\nshipyard monitor probe --url {url}: behavioural tests of the live model")
        print(_shipyard("monitor", "probe", "--url", url).rstrip())
        print()
        print(_shipyard("monitor", "status").rstrip())
        print(_summary(url, before, after))
    finally:
        server.terminate()
        try:
            server.wait(timeout=35)
        except subprocess.TimeoutExpired:
            server.kill()
    print("server stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
