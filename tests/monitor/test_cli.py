"""End to end: a real `shipyard serve` logs, `shipyard monitor run/labels/status` report on it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from ..conftest import SHIPYARD
from ..serve.conftest import Client, start_server, stop_server
from .conftest import CITIES, make_table


def _shipyard(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("SHIPYARD_STORE_URL", None)
    return subprocess.run(
        [SHIPYARD, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _records(table: pa.Table) -> list[dict[str, object]]:
    return table.select(["income", "age", "debt", "city"]).to_pylist()


@pytest.mark.slow
def test_served_traffic_is_monitored_labelled_and_summarised(monitored: Path) -> None:
    with (monitored / "shipyard.yaml").open("a") as f:
        f.write("monitor:\n  window:\n    rows: 150\n")
    url, proc = start_server(["loans@production"], monitored, monitored / "server.log")
    table = make_table(300, 31, shift=2.0, cities=[*CITIES, "mars"])
    ids = []
    try:
        client = Client(url)
        for i in range(0, 300, 10):
            rid = f"req-{i}"
            status, headers, _ = client.post_json(
                "/predict", {"records": _records(table.slice(i, 10))}, {"X-Request-Id": rid}
            )
            assert status == 200
            ids.append(headers["x-request-id"])
        status, _, _ = client.post_json("/predict", {"records": [{"income": "x"}]})
        assert status in (400, 422)
        client.close()
    finally:
        stop_server(proc)  # the log writes what is queued on SIGTERM

    done = _shipyard(monitored, "monitor", "run", "--once")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("window ") == 2, done.stdout  # 301 rows: two windows of 150
    assert "drifted: " in done.stdout and "income" in done.stdout
    assert "report: .shipyard/monitor/loans/window-1.html" in done.stdout

    labels = monitored / "labels.csv"
    y = table.column("y").to_pylist()
    pacsv.write_csv(pa.table({"rid": ids, "label": [y[i * 10] for i in range(30)]}), labels)
    stored = _shipyard(monitored, "monitor", "labels", str(labels), "--request-id-column", "rid")
    assert stored.returncode == 0, stored.stderr
    assert "stored 30 labels of loans" in stored.stdout

    again = _shipyard(monitored, "monitor", "run", "--once")
    assert "no finished window" in again.stdout  # the same rows are not reported twice

    status = _shipyard(monitored, "monitor", "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert "loans@production: 2 windows" in lines[0]
    assert any("income" in line for line in lines) and "roc_auc" in status.stdout
    as_json = json.loads(_shipyard(monitored, "monitor", "status", "--json").stdout)
    assert [w["rows"] for w in as_json] == [150, 150]
    assert all(w["metrics"]["psi:income"] > 0.2 for w in as_json)
    assert sum(w["metrics"]["label_rows"] for w in as_json) == 300  # labels per request id
    html = (monitored / ".shipyard" / "monitor" / "loans" / "report.html").read_text()
    assert "Drift per feature over time" in html and "data:image/png;base64," in html
    assert "Predictions over time" in html and "Label metrics over time" in html
    page = (monitored / ".shipyard" / "monitor" / "loans" / "window-1.html").read_text()
    assert "income: training vs window" in page and "<script" not in page

    bad = _shipyard(monitored, "monitor", "run")
    assert bad.returncode != 0 and "--once or --every" in bad.stderr
