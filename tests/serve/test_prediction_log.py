"""The prediction log: every answered request's rows, refused requests without payload, drops counted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.serve._log import PredictionLog

from .conftest import Bundles, Client, records, start_server, stop_server


def test_answered_and_refused_requests_reach_parquet_on_shutdown(
    bundles: Bundles, tmp_path: Path
) -> None:
    folder = tmp_path / "log"
    url, proc = start_server(
        ["--bundle", str(bundles.cancer), "--log-dir", str(folder)],
        bundles.project,
        tmp_path / "server.log",
    )
    ids: dict[str, int] = {}
    try:
        c = Client(url)
        for i in range(5):
            rows = records(bundles.rows.slice(i * 3, 3))
            status, headers, _ = c.post_json("/predict", {"records": rows})
            assert status == 200
            ids[headers["x-request-id"]] = 3
        bad = records(bundles.rows.slice(0, 1))[0]
        status, headers, _ = c.post_json("/predict", {"records": [dict(bad, mean_area="x")]})
        assert status == 400
        refused = headers["x-request-id"]
        c.close()
    finally:
        stop_server(proc)  # SIGTERM: the log writes what is queued before the worker exits
    files = sorted(folder.glob("*.parquet"))
    assert files and not list(folder.glob(".*.tmp"))
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    ok = table.filter(pa.compute.equal(table.column("status"), 200))
    assert dict(zip(*_counts(ok.column("request_id").to_pylist()), strict=True)) == ids
    assert ok.column("mean_radius").null_count == 0
    assert ok.column("probability").null_count == 0
    no = table.filter(pa.compute.equal(table.column("status"), 400)).to_pylist()
    assert len(no) == 1 and no[0]["request_id"] == refused
    assert no[0]["error"] == "RequestError" and no[0]["field"] == "mean_area"
    assert no[0]["mean_area"] is None and no[0]["probability"] is None  # no payload
    assert set(table.column("model").to_pylist()) == {"cancer"}


def _counts(values: list[str]) -> tuple[list[str], list[int]]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return list(out), list(out.values())


def test_a_full_queue_drops_and_counts_rows_without_blocking(tmp_path: Path) -> None:
    dropped: list[int] = []

    class _Slow(PredictionLog):
        def _write_group(self, *args: Any) -> None:
            time.sleep(0.3)

    log = _Slow(tmp_path, queue_size=2, dropped=dropped.append, flush_s=0.0)
    table = pa.table({"probability": [0.5] * 10})

    class _M:
        name, version = "m", "1"

    start = time.perf_counter()
    for i in range(200):
        log.answered(_M(), str(i), None, table, 1.0)
    assert time.perf_counter() - start < 0.2  # never waits for the writer
    assert sum(dropped) >= 10 * 190
    log.close()
