"""Bad input at the HTTP edge (RELIABILITY.md 2, 21-27): the right 4xx, never a 5xx, no echo."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from shipyard.serve._v2 import encode_response

from .conftest import Bundles, Server, records

JSON = {"Content-Type": "application/json"}


def _record(bundles: Bundles) -> dict[str, Any]:
    row: dict[str, Any] = records(bundles.rows.slice(0, 1))[0]
    return row


def _check(status: int, data: bytes, want: int, words: str, *, mlflow: bool = False) -> None:
    assert status == want, data
    body = json.loads(data)
    message = body["message"] if mlflow else body["error"]
    if mlflow:
        assert body["error_code"] in ("BAD_REQUEST", "RESOURCE_DOES_NOT_EXIST")
    assert words in message, message
    assert "Traceback" not in message and "/" not in message.replace("application/json", "")


@pytest.mark.parametrize(
    ("body", "want", "words"),
    [
        (b"", 400, "empty"),
        (b'{"records": [', 400, "malformed JSON"),
        (b'{"records": []} trailing', 400, "malformed JSON"),
        (b"42", 400, "records"),
        (b"[]", 400, "records"),
        (b"\xff\xfe", 400, "malformed JSON"),
        (b'{"records": {"a": 1}}', 400, "list of records"),
        (b'{"records": [1]}', 400, "record 0"),
    ],
)
def test_malformed_bodies_get_400(
    bundle_server: Server, body: bytes, want: int, words: str
) -> None:
    status, _, data = bundle_server.client().request("POST", "/predict", body, JSON)
    _check(status, data, want, words)


def test_schema_violations_name_the_feature(bundles: Bundles, bundle_server: Server) -> None:
    c = bundle_server.client()
    good = _record(bundles)
    cases: list[tuple[dict[str, Any], str]] = []
    missing = dict(good)
    del missing["mean_area"]
    cases.append((missing, "missing feature 'mean_area'"))
    extra = dict(good, colour=1.0)
    cases.append((extra, "unknown feature 'colour'"))
    typo = dict(good)
    typo["mean_aera"] = typo.pop("mean_area")
    cases.append((typo, "did you mean 'mean_area'?"))
    cases.append((dict(good, mean_area="big"), "feature 'mean_area' expects numbers"))
    cases.append((dict(good, mean_area=[1.0]), "feature 'mean_area' expects numbers"))
    cases.append((dict(good, mean_area={"x": 1}), "feature 'mean_area' expects numbers"))
    cases.append((dict(good, mean_area=1e308 * 10 if False else "1e999"), "expects numbers"))
    for record, words in cases:
        status, _, data = c.request(
            "POST", "/predict", json.dumps({"records": [good, record]}).encode(), JSON
        )
        _check(status, data, 400, words)
        assert "1e999" not in data.decode() and "big" not in data.decode()
    # The number Infinity cannot be written in JSON; a literal overflow is malformed JSON.
    status, _, data = c.request("POST", "/predict", b'{"records": [{"a": 1e999}]}', JSON)
    _check(status, data, 400, "malformed JSON")


def test_nan_and_infinity_follow_the_policy(bundles: Bundles, bundle_server: Server) -> None:
    """Null (or NaN in a binary tensor) is missing and allowed for nullable features; Infinity is not."""
    c = bundle_server.client()
    good = _record(bundles)
    status, _, body = c.post_json("/predict", {"records": [dict(good, mean_area=None)]})
    assert status == 200 and body["predictions"][0]["label"] in (0, 1)
    names = bundles.rows.column_names
    for bad, words in ((np.inf, "Infinity"), (-np.inf, "Infinity")):
        x = np.array([[good[n] for n in names]], dtype="<f8")
        x[0, 3] = bad
        raw = x.tobytes()
        header = json.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, len(names)],
                        "datatype": "FP64",
                        "parameters": {"binary_data_size": len(raw)},
                    }
                ]
            }
        ).encode()
        status, _, data = c.request(
            "POST",
            "/v2/models/cancer/infer",
            header + raw,
            {"Inference-Header-Content-Length": str(len(header))},
        )
        _check(status, data, 400, words)
    x = np.array([[good[n] for n in names]], dtype="<f8")
    x[0, 3] = np.nan
    status, _, body = c.post_json(
        "/v2/models/cancer/infer",
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, len(names)],
                    "datatype": "FP64",
                    "data": [None if np.isnan(v) else v for v in x[0]],
                }
            ]
        },  # noqa: E501
    )
    assert status == 200, body


def test_a_feature_that_is_not_nullable_refuses_missing_values() -> None:
    from shipyard.errors import RequestError
    from shipyard.serve._signature import Signature

    sig = Signature(
        [{"name": "a", "type": "double", "nullable": False}, {"name": "b", "type": "string"}],
        pa.schema([("a", pa.float64()), ("b", pa.string())]),
    )
    columns, rows = sig.columns({"a": [1.0, 2.0], "b": ["x", None]})
    assert rows == 2 and columns["b"].null_count == 1
    for data, words in (
        ({"a": [None], "b": ["x"]}, "not nullable"),
        ({"a": np.array([np.nan]), "b": ["x"]}, "not nullable"),
        ({"a": [1.0], "b": [3]}, "expects strings"),
        ({"a": [1.0, 2.0], "b": ["x"]}, "one value per row"),
        ({"a": [True], "b": ["x"], "c": [1]}, "unknown feature 'c'"),
    ):
        with pytest.raises(RequestError, match=words):
            sig.columns(data)
    ints = Signature([{"name": "n", "type": "int64"}], pa.schema([("n", pa.int64())]))
    with pytest.raises(RequestError, match="expects integers"):
        ints.columns({"n": [1.5]})
    assert ints.columns({"n": [2, None]})[0]["n"].to_pylist() == [2, None]


def test_v2_shape_and_datatype_errors(bundles: Bundles, bundle_server: Server) -> None:
    c = bundle_server.client()
    names = bundles.rows.column_names
    good = _record(bundles)
    per = [{"name": n, "shape": [1], "datatype": "FP64", "data": [good[n]]} for n in names]
    cases: list[tuple[Any, int, str]] = [
        ({"inputs": [dict(per[0], shape=[2])] + per[1:]}, 400, "1 values for shape [2]"),
        ({"inputs": [dict(per[0], datatype="FP128")] + per[1:]}, 400, "unsupported datatype"),
        ({"inputs": [dict(per[0], shape="1")] + per[1:]}, 400, "'shape'"),
        ({"inputs": [dict(per[0], data=["a"])] + per[1:]}, 400, "must be numbers"),
        ({"inputs": per[1:]}, 400, "missing feature 'mean_radius'"),
        ({"inputs": [*per, per[0]]}, 400, "sent twice"),
        (
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
            400,
            "3 columns",
        ),  # noqa: E501
        ({"inputs": []}, 400, "empty"),
        ({"inputs": per, "outputs": [{"name": "nope"}]}, 400, "unknown output"),
        ({"inputs": per, "id": 5}, 400, "'id'"),
        ({"input": per}, 400, "'inputs'"),
    ]
    for payload, want, words in cases:
        status, _, data = c.request(
            "POST", "/v2/models/cancer/infer", json.dumps(payload).encode(), JSON
        )
        _check(status, data, want, words)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 30],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": 8},
                }
            ]
        }  # noqa: E501
    ).encode()
    status, _, data = c.request(
        "POST",
        "/v2/models/cancer/infer",
        header + b"\0" * 8,
        {"Inference-Header-Content-Length": str(len(header))},
    )
    _check(status, data, 400, "8 bytes of binary data")
    status, _, data = c.request(
        "POST", "/v2/models/cancer/infer", b"{}", {"Inference-Header-Content-Length": "999"}
    )
    _check(status, data, 400, "Inference-Header-Content-Length")
    status, _, data = c.request("POST", "/v2/models/nope/infer", b"{}", JSON)
    _check(status, data, 404, "unknown model")


def test_mlflow_errors_have_mlflows_shape(bundles: Bundles, bundle_server: Server) -> None:
    c = bundle_server.client()
    good = _record(bundles)
    for payload, words in (
        ({"dataframe_records": [good], "instances": [good]}, "exactly one of"),
        ({"columns": ["a"]}, "exactly one of"),
        ({"dataframe_split": {"columns": ["mean_radius"], "data": [[1.0]]}}, "missing feature"),
        ({"dataframe_split": {"columns": list(good), "data": [[1.0]]}}, "row 0"),
        ({"instances": [[1.0, 2.0]]}, "row 0"),
    ):
        status, _, data = c.request("POST", "/invocations", json.dumps(payload).encode(), JSON)
        _check(status, data, 400, words, mlflow=True)
    status, _, data = c.request("POST", "/invocations", b"a,b\n1,2\n", {"Content-Type": "text/csv"})
    _check(status, data, 400, "unknown feature", mlflow=True)
    header = ",".join(good)
    row = ",".join("x" if n == "mean_area" else str(v) for n, v in good.items())
    status, _, data = c.request(
        "POST", "/invocations", f"{header}\n{row}\n".encode(), {"Content-Type": "text/csv"}
    )
    _check(status, data, 400, "column 'mean_area'", mlflow=True)


@pytest.mark.parametrize(
    ("content_type", "path"),
    [
        ("text/xml", "/predict"),
        ("application/x-www-form-urlencoded", "/predict"),
        ("application/python-pickle", "/invocations"),
        ("application/json; charset=latin-1", "/predict"),
        ("text/csv", "/predict"),
        ("application/x-ndjson", "/v2/models/cancer/infer"),
    ],
)
def test_unknown_content_types_get_415(bundle_server: Server, content_type: str, path: str) -> None:
    pickle_like = b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00."
    status, _, data = bundle_server.client().request(
        "POST", path, pickle_like, {"Content-Type": content_type}
    )
    assert status == 415, data
    body = json.loads(data)
    assert "unsupported" in (body.get("error") or body.get("message"))


def test_size_and_row_limits_get_413_naming_the_limit(
    bundles: Bundles, bundle_server: Server
) -> None:
    c = bundle_server.client()
    big = b'{"records": [' + b" " * 1_100_000 + b"]}"
    status, _, data = c.request("POST", "/predict", big, JSON)
    _check(status, data, 413, "limits.max_body_bytes")
    assert "1,000,000" in json.loads(data)["error"]
    rows = records(bundles.rows.slice(0, 1)) * 601
    status, _, data = c.request(
        "POST", "/predict", json.dumps({"records": rows}).encode().replace(b" ", b""), JSON
    )
    _check(status, data, 413, "limits.max_rows")
    # Refused before the body is read: a declared length over the limit, with no body sent.
    import socket

    host, port = bundle_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 900000000\r\n\r\n"
        )
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]


def test_unknown_routes_and_methods_are_json_4xx(bundle_server: Server) -> None:
    c = bundle_server.client()
    status, _, data = c.get("/nope")
    assert status == 404 and "error" in json.loads(data)
    status, _, data = c.request("DELETE", "/predict")
    assert status == 405 and "error" in json.loads(data)
    status, _, data = c.get("/predict")
    assert status == 405


def test_nan_outputs_are_written_as_null() -> None:
    """A NaN score (a model fed only missing values can give one) is JSON null, never NaN."""
    from shipyard.bundle import output_table
    from shipyard.serve._mlflow import records as out_records

    table = output_table("binary", np.array([0.2, np.nan]), threshold=0.5)
    assert out_records(table) == [
        {"probability": 0.2, "label": 0},
        {"probability": None, "label": None},
    ]

    class _Model:
        name, version, classes = "m", "1", [0, 1]

    body, headers = encode_response(_Model(), table, {})  # type: ignore[arg-type]
    assert not headers
    decoded = json.loads(body)  # strict JSON: NaN would not parse in other clients
    assert b"NaN" not in body
    assert decoded["outputs"][0]["data"] == [0.2, None]
    assert decoded["outputs"][1]["data"] == [0, None]
