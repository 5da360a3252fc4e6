"""Hypothesis against the three protocols of a real server: whatever the body, never a 5xx.

Bodies are valid requests with one part replaced by arbitrary JSON (wrong types,
huge numbers, nesting, unknown names), arbitrary JSON documents, and raw bytes.
Every answer is 200 or a 4xx with an error body. 500 cases per protocol,
derandomized so that CI runs the same cases each time.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Bundles, Client, Server, records

CASES = settings(
    max_examples=500,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)

_clients: dict[str, Client] = {}
_sent: dict[str, int] = {}


def _client(server: Server) -> Client:
    if server.url not in _clients:
        _clients[server.url] = server.client()
    return _clients[server.url]


def _check(server: Server, path: str, body: bytes, content_type: str = "application/json") -> None:
    headers = {"Content-Type": content_type}
    status, _, data = _client(server).request("POST", path, body, headers)
    _sent[path] = _sent.get(path, 0) + 1
    assert status < 500, (status, data[:300])
    if status != 200:
        answer = json.loads(data)
        assert isinstance(answer.get("error", answer.get("message")), str)


def _mutated(draw: st.DrawFn, row: dict[str, Any]) -> dict[str, Any]:
    record = dict(row)
    action = draw(st.sampled_from(["value", "drop", "add", "rename", "keep"]))
    names = list(record)
    if action == "value":
        record[draw(st.sampled_from(names))] = draw(_json)
    elif action == "drop":
        record.pop(draw(st.sampled_from(names)))
    elif action == "add":
        record[draw(st.text(max_size=12))] = draw(_json)
    elif action == "rename":
        name = draw(st.sampled_from(names))
        record[name + draw(st.text(min_size=1, max_size=2))] = record.pop(name)
    return record


@st.composite
def _records(draw: st.DrawFn, rows: list[dict[str, Any]]) -> list[Any]:
    n = draw(st.integers(0, 3))
    return [_mutated(draw, draw(st.sampled_from(rows))) for _ in range(n)]


def _raw_or_json(payload: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return (
        payload.map(lambda p: json.dumps(p).encode())
        | _json.map(lambda p: json.dumps(p).encode())
        | st.binary(max_size=64)
    )


def test_fuzz_predict(bundles: Bundles, bundle_server: Server) -> None:
    rows = records(bundles.rows.slice(0, 20))

    @CASES
    @given(body=_raw_or_json(_records(rows).map(lambda r: {"records": r})))
    def run(body: bytes) -> None:
        _check(bundle_server, "/predict", body)

    run()
    assert _sent["/predict"] >= 500


def test_fuzz_invocations(bundles: Bundles, bundle_server: Server) -> None:
    rows = records(bundles.rows.slice(0, 20))
    names = list(rows[0])

    @st.composite
    def payloads(draw: st.DrawFn) -> Any:
        recs = draw(_records(rows))
        kind = draw(st.sampled_from(["split", "records", "instances", "inputs", "columns"]))
        if kind == "split":
            cols = draw(st.sampled_from([names, names[:-1], [*names, "x"], names[::-1]]))
            data = [[r.get(c) for c in cols] for r in recs]
            if data and draw(st.booleans()):
                data[0] = draw(_json)
            return {"dataframe_split": {"columns": cols, "data": data}}
        if kind == "records":
            return {"dataframe_records": recs}
        if kind == "instances":
            return {"instances": [[r.get(n) for n in names] for r in recs]}
        if kind == "inputs":
            return {"inputs": recs}
        return {"inputs": {n: [r.get(n) for r in recs] for n in names}}

    csv_bodies = st.lists(
        st.lists(st.text(alphabet='0123456789.,-eNa"x', max_size=6), min_size=1, max_size=31),
        max_size=3,
    ).map(lambda rows_: (",".join(names) + "\n" + "\n".join(",".join(r) for r in rows_)).encode())

    @CASES
    @given(body=_raw_or_json(payloads()), csv=csv_bodies, as_csv=st.booleans())
    def run(body: bytes, csv: bytes, as_csv: bool) -> None:
        if as_csv:
            _check(bundle_server, "/invocations", csv, "text/csv")
        else:
            _check(bundle_server, "/invocations", body)

    run()
    assert _sent["/invocations"] >= 500


def test_fuzz_v2(bundles: Bundles, bundle_server: Server) -> None:
    rows = records(bundles.rows.slice(0, 20))
    names = list(rows[0])
    datatypes = st.sampled_from(["FP64", "FP32", "INT64", "BOOL", "BYTES", "UINT8", "FP16", "X"])

    @st.composite
    def payloads(draw: st.DrawFn) -> Any:
        recs = draw(_records(rows))
        n = len(recs)
        if draw(st.booleans()):
            inputs = [
                {
                    "name": name,
                    "shape": draw(st.sampled_from([[n], [n, 1], [n + 1], [n, 2]])),
                    "datatype": draw(st.sampled_from(["FP64", "FP64", "FP64"]) | datatypes),
                    "data": [r.get(name) for r in recs],
                }
                for name in draw(st.sampled_from([names, names[1:], [*names, "x"]]))
            ]
        else:
            inputs = [
                {
                    "name": "x",
                    "shape": draw(st.sampled_from([[n, len(names)], [n, 3], [len(names)]])),
                    "datatype": draw(datatypes),
                    "data": [[r.get(c) for c in names] for r in recs],
                }
            ]
        if inputs and draw(st.booleans()):
            inputs[0][draw(st.sampled_from(["shape", "datatype", "data", "name"]))] = draw(_json)
        payload: dict[str, Any] = {"inputs": inputs}
        if draw(st.booleans()):
            payload["outputs"] = draw(
                st.sampled_from([[{"name": "label"}], [{"name": "nope"}], "x", [1]])
            )
        return payload

    @CASES
    @given(body=_raw_or_json(payloads()))
    def run(body: bytes) -> None:
        _check(bundle_server, "/v2/models/cancer/infer", body)

    run()
    assert _sent["/v2/models/cancer/infer"] >= 500
