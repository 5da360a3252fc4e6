"""The prediction log: every answered request's rows, refused requests without payload, drops counted."""

from __future__ import annotations

import os
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
    assert abs(no[0]["time"].timestamp() - time.time()) < 600  # written as microseconds
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


def _closed_file(folder: Path, name: str, age_s: float, rows: int = 10) -> Path:
    """A closed log file (read-only) last modified ``age_s`` seconds ago."""
    path = folder / name
    pq.write_table(pa.table({"request_id": [str(i) for i in range(rows)]}), path)
    path.chmod(0o444)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_retention_deletes_closed_files_past_their_age_or_the_size_bound(tmp_path: Path) -> None:
    day = 86_400.0
    old = _closed_file(tmp_path, "m-1-1-1.parquet", 40 * day)
    kept = _closed_file(tmp_path, "m-1-1-2.parquet", 2 * day)
    fresh = _closed_file(tmp_path, "m-1-1-3.parquet", 0)
    writing = _closed_file(tmp_path, ".m-1-1-4.parquet.tmp", 40 * day)  # being written
    other = tmp_path / "README.txt"
    other.write_text("not a log file")
    os.utime(other, (0, 0))
    log = PredictionLog(tmp_path, retention_s=30 * day)
    log.close()
    assert log.deleted == 1
    assert not old.exists() and kept.exists() and fresh.exists()
    assert writing.exists() and other.exists()
    # A size bound deletes the oldest files first until the rest fit.
    bound = fresh.stat().st_size + 1
    log = PredictionLog(tmp_path, max_bytes=bound)
    log.close()
    assert not kept.exists() and fresh.exists()


def test_the_server_applies_retention_to_its_log_folder(bundles: Bundles, tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "shipyard.yaml").write_text(
        "project:\n  name: kept\nserve:\n  log:\n    retention: 1d\n"
    )
    folder = tmp_path / "log"
    folder.mkdir()
    old = _closed_file(folder, "cancer-x-1-1.parquet", 2 * 86_400)
    recent = _closed_file(folder, "cancer-x-1-2.parquet", 3_600)
    url, proc = start_server(
        ["--bundle", str(bundles.cancer), "--log-dir", str(folder)], root, tmp_path / "server.log"
    )
    try:
        c = Client(url)
        status, _, _ = c.post_json("/predict", {"records": records(bundles.rows.slice(0, 2))})
        assert status == 200
        c.close()
    finally:
        stop_server(proc)
    assert not old.exists() and recent.exists()
    written = [f for f in folder.glob("*.parquet") if f != recent]
    assert written and all(f.stat().st_mode & 0o777 == 0o444 for f in written)
    assert sum(pq.read_table(f).num_rows for f in written) == 2
