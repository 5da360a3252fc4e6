"""Every protocol of a real server answers what Bundle.predict gives for the same rows."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from .conftest import Bundles, Server, expected, records

ROWS = 40


def _rows(bundles: Bundles) -> pa.Table:
    return bundles.rows.slice(0, ROWS)


def _same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g["label"] == w["label"]
        assert g["probability"] == pytest.approx(w["probability"], rel=0, abs=1e-12)


def _v2_records(body: dict[str, Any]) -> list[dict[str, Any]]:
    cols = {o["name"]: o["data"] for o in body["outputs"]}
    return [
        {"probability": p, "label": label}
        for p, label in zip(cols["probability"], cols["label"], strict=True)
    ]


def test_predict_and_every_mlflow_format_answer_as_bundle_predict(
    bundles: Bundles, bundle_server: Server
) -> None:
    table = _rows(bundles)
    want = expected(bundles.cancer, table)
    recs = records(table)
    names = table.column_names
    rows = [[r[n] for n in names] for r in recs]
    c = bundle_server.client()
    status, headers, body = c.post_json("/predict", {"records": recs})
    assert status == 200 and body["model"] == "cancer"
    _same(body["predictions"], want)
    assert headers["x-shipyard-model-version"] == body["model_version"]
    for payload in (
        {"dataframe_split": {"columns": names, "data": rows}},
        {"dataframe_split": {"columns": names[::-1], "data": [r[::-1] for r in rows]}},
        {"dataframe_records": recs},
        {"instances": recs},
        {"instances": rows},
        {"inputs": recs},
        {"inputs": {n: table.column(n).to_pylist() for n in names}},
    ):
        status, headers, body = c.post_json("/invocations", payload)
        assert status == 200, (next(iter(payload)), body)
        assert headers["x-shipyard-model-version"]
        _same(body["predictions"], want)
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    status, headers, data = c.request(
        "POST", "/invocations", sink.getvalue(), {"Content-Type": "text/csv"}
    )
    assert status == 200, data
    _same(json.loads(data)["predictions"], want)


def test_v2_json_tensors_per_feature_2d_and_pd(bundles: Bundles, bundle_server: Server) -> None:
    table = _rows(bundles)
    want = expected(bundles.cancer, table)
    names = table.column_names
    c = bundle_server.client()
    per_feature = [
        {"name": n, "shape": [ROWS], "datatype": "FP64", "data": table.column(n).to_pylist()}
        for n in names
    ]
    matrix = np.column_stack([table.column(n).to_numpy() for n in names])
    two_d = [
        {
            "name": "input-0",
            "shape": list(matrix.shape),
            "datatype": "FP64",
            "data": matrix.tolist(),
        }
    ]
    for payload in (
        {"inputs": per_feature, "id": "r1"},
        {"inputs": two_d},
        {"inputs": per_feature, "parameters": {"content_type": "pd"}},
    ):
        status, headers, body = c.post_json("/v2/models/cancer/infer", payload)
        assert status == 200, body
        assert body["model_name"] == "cancer" and body["model_version"]
        _same(_v2_records(body), want)
    version = body["model_version"]
    status, _, body = c.post_json(f"/v2/models/cancer/versions/{version}/infer", {"inputs": two_d})
    assert status == 200 and body["model_version"] == version
    status, _, body = c.post_json("/v2/models/cancer/versions/nope/infer", {"inputs": two_d})
    assert status == 404 and "error" in body


def test_v2_binary_tensors_by_hand(bundles: Bundles, bundle_server: Server) -> None:
    """The binary tensor data extension: JSON header, then raw little-endian tensors."""
    table = _rows(bundles)
    want = expected(bundles.cancer, table)
    matrix = np.column_stack([table.column(n).to_numpy() for n in table.column_names])
    raw = matrix.astype("<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": list(matrix.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    status, headers, data = bundle_server.client().request(
        "POST",
        "/v2/models/cancer/infer",
        header + raw,
        {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(header)),
        },
    )
    assert status == 200, data
    size = int(headers["inference-header-content-length"])
    meta = json.loads(data[:size])
    offset = size
    out = {}
    for o in meta["outputs"]:
        n = o["parameters"]["binary_data_size"]
        dtype = "<f8" if o["datatype"] == "FP64" else "<i8"
        out[o["name"]] = np.frombuffer(data[offset : offset + n], dtype=dtype)
        offset += n
    assert offset == len(data)
    # float32 inputs: the same rows as the model sees them after the transform's float32 cast.
    assert out["label"].tolist() == [w["label"] for w in want]
    assert np.allclose(out["probability"], [w["probability"] for w in want], atol=1e-6)


def test_tritonclient_binary_and_json(bundles: Bundles, bundle_server: Server) -> None:
    httpclient = pytest.importorskip("tritonclient.http")
    table = _rows(bundles)
    want = expected(bundles.cancer, table)
    client = httpclient.InferenceServerClient(bundle_server.url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("cancer")
        meta = client.get_model_metadata("cancer")
        assert [i["name"] for i in meta["inputs"]] == table.column_names
        assert client.get_server_metadata()["name"] == "shipyard"
        for binary in (True, False):
            inputs = []
            for n in table.column_names:
                tensor = httpclient.InferInput(n, [ROWS], "FP64")
                tensor.set_data_from_numpy(table.column(n).to_numpy(), binary_data=binary)
                inputs.append(tensor)
            outputs = [
                httpclient.InferRequestedOutput("probability", binary_data=binary),
                httpclient.InferRequestedOutput("label", binary_data=binary),
            ]
            result = client.infer("cancer", inputs, outputs=outputs)
            assert result.as_numpy("label").tolist() == [w["label"] for w in want]
            assert np.allclose(
                result.as_numpy("probability"), [w["probability"] for w in want], atol=1e-12
            )
            assert result.get_response()["model_version"]
            # The defaults: binary inputs, no outputs named (all of them, binary).
            result = client.infer("cancer", inputs)
            assert result.as_numpy("label").tolist() == [w["label"] for w in want]
    finally:
        client.close()


def test_bytes_tensor_framing_is_read(bundle_server: Server) -> None:
    """A BYTES tensor of a numeric feature is refused by type, after its framing is read."""
    raw = struct.pack("<I", 3) + b"1.5"
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "mean_radius",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    status, _, data = bundle_server.client().request(
        "POST",
        "/v2/models/cancer/infer",
        header + raw,
        {"Inference-Header-Content-Length": str(len(header))},
    )
    assert status == 400 and "error" in json.loads(data)


def test_multiclass_from_the_registry_with_two_workers(
    bundles: Bundles, registry_server: Server
) -> None:
    from shipyard.pipeline.project import Project
    from shipyard.registry import Registry

    project = Project.discover(bundles.project)
    try:
        version = Registry(project).get("wine@production")
        folder = project.artifacts.path(version.artifact)
    finally:
        project.close()
    table = bundles.wine_rows.slice(0, 30)
    want = expected(folder, table)
    c = registry_server.client()
    status, headers, body = c.post_json("/models/wine/predict", {"records": records(table)})
    assert status == 200 and headers["x-shipyard-model-version"] == "1"
    for g, w in zip(body["predictions"], want, strict=True):
        assert g["label"] == w["label"]
        assert g["probabilities"] == pytest.approx(w["probabilities"], abs=1e-12)
    status, _, body = c.post_json(
        "/v2/models/wine/infer",
        {
            "inputs": [
                {
                    "name": n,
                    "shape": [30, 1],
                    "datatype": "FP64",
                    "data": table.column(n).to_pylist(),
                }
                for n in table.column_names
            ]
        },
    )
    assert status == 200 and body["model_version"] == "1"
    probs = next(o for o in body["outputs"] if o["name"] == "probabilities")
    assert probs["shape"] == [30, 3]
    assert np.allclose(np.reshape(probs["data"], (30, 3)), [w["probabilities"] for w in want])
    # The first model named answers /predict; the other is reached by name.
    status, _, body = c.post_json("/predict", {"records": records(bundles.rows.slice(0, 1))})
    assert status == 200 and body["model"] == "cancer"
    assert c.get("/v2/models/nope")[0] == 404
    assert c.get("/v2/models/wine/versions/1")[0] == 200
    assert c.get("/v2/models/wine/versions/2/ready")[0] == 404
    status, _, data = c.get("/metrics")
    assert status == 200 and b"shipyard_inference_requests_total" in data


def test_zero_rows_answer_200_with_empty_outputs(bundle_server: Server) -> None:
    c = bundle_server.client()
    status, _, body = c.post_json("/predict", {"records": []})
    assert status == 200 and body["predictions"] == []
    status, _, body = c.post_json("/invocations", {"dataframe_records": []})
    assert status == 200 and body == {"predictions": []}
    status, _, body = c.post_json(
        "/v2/models/cancer/infer",
        {"inputs": [{"name": "x", "shape": [0, 30], "datatype": "FP64", "data": []}]},
    )
    assert status == 200, body
    assert {o["name"]: o["shape"] for o in body["outputs"]} == {"probability": [0], "label": [0]}


def test_health_version_openapi_docs_and_metrics(bundle_server: Server) -> None:
    c = bundle_server.client()
    for path in (
        "/ping",
        "/health",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/cancer/ready",
    ):
        assert c.get(path)[0] == 200, path
    status, _, data = c.get("/version")
    assert status == 200 and data
    status, _, data = c.get("/openapi.json")
    doc = json.loads(data)
    assert doc["openapi"].startswith("3.")
    for path in ("/predict", "/invocations", "/v2/models/{name}/infer", "/v2/health/ready"):
        assert path in doc["paths"]
    record = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert "mean_radius" in record["schema"]["properties"]["records"]["items"]["properties"]
    status, headers, data = c.get("/docs")
    assert status == 200 and headers["content-type"].startswith("text/html")
    c.post_json("/predict", {"records": []})
    status, _, text = c.get("/metrics")
    for series in (
        "shipyard_inference_requests_total",
        "shipyard_inference_request_duration_seconds_bucket",
        "shipyard_inference_batch_size_bucket",
        "shipyard_inference_queue_depth",
        "shipyard_inference_in_flight",
        "shipyard_prediction_log_dropped_rows_total",
    ):
        assert series.encode() in text, series
    assert b'status="200"' in text


def test_access_log_lines_carry_request_ids(bundle_server: Server) -> None:
    c = bundle_server.client()
    status, headers, _ = c.post_json("/predict", {"records": []}, {"X-Request-Id": "abc-123"})
    assert status == 200 and headers["x-request-id"] == "abc-123"
    status, headers, _ = c.post_json("/predict", {"records": []}, {"X-Request-Id": "bad id!"})
    assert headers["x-request-id"] != "bad id!"
    import time

    for _ in range(50):
        lines = [
            json.loads(line.split(" shipyard.serve.access ", 1)[1])
            for line in bundle_server.log.read_text().splitlines()
            if " shipyard.serve.access " in line
        ]
        if any(x["request_id"] == "abc-123" for x in lines):
            break
        time.sleep(0.05)
    line = next(x for x in lines if x["request_id"] == "abc-123")
    assert line["status"] == 200 and line["path"] == "/predict" and line["model"] == "cancer"
