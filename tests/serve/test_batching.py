"""Adaptive batching groups concurrent requests and keeps order; overload gets 503 fast."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pytest

from shipyard.serve._batch import Batcher

from .conftest import Bundles, Client, Server, expected, free_port, records


class _SlowModel:
    """Stands in for a ServedModel: echoes a column, and records each call's batch."""

    name = "slow"
    version = "1"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, parts: list[dict[str, pa.Array]]) -> pa.Table:
        time.sleep(0.02)
        self.calls.append(len(parts))
        return pa.table({"x": pa.concat_arrays([p["x"] for p in parts])})


def test_the_batcher_groups_queued_requests_in_order_and_runs_a_lone_one_at_once() -> None:
    model = _SlowModel()

    async def main() -> tuple[list[list[int]], float]:
        batcher = Batcher(model, max_batch_size=8, max_wait_s=3.0, max_rows=1000)  # type: ignore[arg-type]
        start = time.monotonic()
        lone = await batcher.submit({"x": pa.array([7])}, 1, time.monotonic() + 5)
        alone = time.monotonic() - start
        assert lone.column("x").to_pylist() == [7]
        tasks = [
            asyncio.ensure_future(batcher.submit({"x": pa.array([i, -i])}, 2, time.monotonic() + 5))
            for i in range(20)
        ]
        results = await asyncio.gather(*tasks)
        await batcher.close()
        return [r.column("x").to_pylist() for r in results], alone

    results, alone = asyncio.run(main())
    assert results == [[i, -i] for i in range(20)]
    # Nothing else queued: no wait for max_wait (3 s), only the model's 20 ms (a generous
    # ceiling: this machine is shared).
    assert alone < 1.5
    assert model.calls[0] == 1
    # The first of the 20 finds the model idle and runs at once; the others queue meanwhile.
    assert max(model.calls[1:]) == 8 and sum(model.calls[1:]) == 20


def test_a_request_past_its_deadline_gets_504_without_running() -> None:
    from shipyard.errors import RequestError

    model = _SlowModel()

    async def main() -> None:
        batcher = Batcher(model, max_batch_size=1, max_wait_s=0, max_rows=1000)  # type: ignore[arg-type]
        first = asyncio.ensure_future(batcher.submit({"x": pa.array([1])}, 1, time.monotonic() + 5))
        late = asyncio.ensure_future(
            batcher.submit({"x": pa.array([2])}, 1, time.monotonic() + 0.005)
        )
        await first
        with pytest.raises(RequestError) as info:
            await late
        assert info.value.status == 504
        await batcher.close()

    asyncio.run(main())
    assert model.calls == [1]


def _batch_counts(metrics: bytes) -> tuple[float, float]:
    """(batches of one request, all batches) from the batch size histogram."""
    text = metrics.decode()
    ones = float(
        re.search(r'shipyard_inference_batch_size_bucket\{le="1.0",model="cancer"\} (\S+)', text)[1]
    )  # type: ignore[index]  # noqa: E501
    total = float(
        re.search(r'shipyard_inference_batch_size_count\{model="cancer"\} (\S+)', text)[1]
    )  # type: ignore[index]  # noqa: E501
    return ones, total


def test_concurrent_requests_share_model_calls_and_get_their_own_rows(
    bundles: Bundles, bundle_server: Server
) -> None:
    table = bundles.rows.slice(0, 256)
    want = expected(bundles.cancer, table)
    rows = records(table)
    before = _batch_counts(bundle_server.client().get("/metrics")[2])

    def worker(k: int) -> list[tuple[int, Any]]:
        c = Client(bundle_server.url)
        out = []
        try:
            for i in range(k, len(rows), 32):
                status, _, body = c.post_json("/predict", {"records": [rows[i]]})
                assert status == 200, body
                out.append((i, body["predictions"][0]))
        finally:
            c.close()
        return out

    with ThreadPoolExecutor(32) as pool:
        answers = [a for part in pool.map(worker, range(32)) for a in part]
    assert len(answers) == 256
    for i, got in answers:
        assert got["label"] == want[i]["label"]
        assert got["probability"] == pytest.approx(want[i]["probability"], abs=1e-12)
    ones, total = _batch_counts(bundle_server.client().get("/metrics")[2])
    batches = total - before[1]
    assert batches < 256, "every request ran alone: nothing was batched"
    assert (total - ones) - (before[1] - before[0]) > 0


@pytest.fixture(scope="module")
def tight_server(bundles: Bundles) -> Iterator[tuple[str, Any]]:
    """An in-process server allowing one request at a time per worker (limits.max_queue=1)."""
    import uvicorn

    from shipyard.bundle import load_bundle
    from shipyard.serve import ServedModel, ServeSettings, create_app

    model = ServedModel(load_bundle(bundles.cancer), "1")
    app = create_app([model], ServeSettings(max_queue=1, max_rows=5000, max_body_bytes=10**8))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(10)


def test_over_the_concurrency_limit_gets_503_with_retry_after_without_the_model(
    bundles: Bundles, tight_server: tuple[str, Any]
) -> None:
    url, app = tight_server
    body = records(bundles.rows.slice(0, 500)) * 4
    batcher = app.state.server.batchers["cancer"]
    calls_before = batcher.batches

    def send(_: int) -> tuple[int, dict[str, str], float]:
        c = Client(url)
        try:
            start = time.monotonic()
            status, headers, _ = c.post_json("/predict", {"records": body})
            return status, headers, time.monotonic() - start
        finally:
            c.close()

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(send, range(24)))
    statuses = [s for s, _, _ in results]
    assert set(statuses) <= {200, 503}
    assert statuses.count(503) > 0 and statuses.count(200) > 0
    assert all(h.get("retry-after") == "1" for s, h, _ in results if s == 503)
    # Refused requests never reached the model: one model call per admitted request at most.
    assert batcher.batches - calls_before <= statuses.count(200)
    fast = sorted(t for s, _, t in results if s == 503)
    assert fast[len(fast) // 2] < 0.5
