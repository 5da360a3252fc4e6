"""The bundle's key column sent with requests is logged (never given to the model) and joins labels."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..conftest import cli
from ..serve.conftest import Client, start_server, stop_server
from .conftest import make_table

FEATURES = ["income", "age", "debt", "city"]


def test_the_key_column_is_logged_and_labels_join_on_it(monitored: Path) -> None:
    with (monitored / "shipyard.yaml").open("a") as f:
        f.write("monitor:\n  window:\n    rows: 100\n")
    table = make_table(100, 41)
    url, proc = start_server(["loans@production"], monitored, monitored / "server.log")
    try:
        client = Client(url)
        plain = table.slice(0, 60).select(["id", *FEATURES]).to_pylist()
        status, _, body = client.post_json("/predict", {"records": plain})
        assert status == 200, body
        split = table.slice(60, 40).select([*FEATURES, "id"])
        payload = {
            "dataframe_split": {
                "columns": split.column_names,
                "data": [list(r.values()) for r in split.to_pylist()],
            }
        }
        status, _, body = client.post_json("/invocations", payload)
        assert status == 200, body
        bare = {k: v for k, v in plain[0].items() if k != "id"}
        without = client.post_json("/predict", {"records": [bare]})  # the key is optional
        unknown = client.post_json("/predict", {"records": [{**plain[0], "idd": "x"}]})
        assert unknown[0] == 400 and "unknown feature 'idd'" in unknown[2]["error"]
        client.close()
    finally:
        stop_server(proc)
    assert without[0] == 200
    logged = ds.dataset(monitored / ".shipyard" / "predictions", format="parquet").to_table()
    answered = logged.filter(pa.compute.equal(logged["status"], 200))
    keys = set(answered.column("id").to_pylist())
    assert set(table.column("id").to_pylist()) <= keys

    labels = monitored / "labels.parquet"
    pq.write_table(table.select(["id", "y"]), labels)
    stored = cli(
        "monitor", "labels", str(labels), "--key", "id", "--label-column", "y", cwd=monitored
    )
    assert stored.returncode == 0, stored.stderr
    done = cli("monitor", "run", "--once", "--json", cwd=monitored)
    assert done.returncode == 0, done.stderr
    [window] = json.loads(done.stdout)
    assert window["rows"] == 100 and window["metrics"]["label_rows"] == 100
    assert window["metrics"]["roc_auc"] is not None
