"""Many processes register the same model and move the same alias at once (RELIABILITY 11).

Run on SQLite and on PostgreSQL: versions come out 1..N with no gaps or
duplicates, no registration is lost, no writer sees "database is locked", and
the alias audit log is one unbroken chain that ends where the alias points.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from shipyard.registry import Registry
from shipyard.store.artifacts import LocalArtifactStore
from shipyard.store.metadata import MetadataStore

PROCESSES, EACH, ROLLBACK_EVERY = 4, 20, 5

_WORKER = r"""
import sys, time
from pathlib import Path
from shipyard.pipeline.materializers import save_value
from shipyard.registry import Registry
from shipyard.store.artifacts import LocalArtifactStore
from shipyard.store.metadata import MetadataStore

url, root, gate, worker, n, every = sys.argv[1:7]
worker, n, every, gate = int(worker), int(n), int(every), Path(gate)
store = MetadataStore(url)
artifacts = LocalArtifactStore(root)
registry = Registry(store, artifacts=artifacts)
(gate / f"ready-{worker}").touch()
while not (gate / "go").exists():
    time.sleep(0.002)
for i in range(n):
    info = save_value({"worker": worker, "i": i}, artifacts)
    with store.write() as conn:
        store.record_artifact(conn, info)
    v = registry.register(
        "churn", info["digest"], blessed=True, tags={"worker": worker}, properties={"i": i}
    )
    registry.promote("churn", v.version, reason=f"worker {worker}")
    if i % every == every - 1:
        registry.rollback("churn", reason=f"worker {worker}")
    print(v.version, flush=True)
store.close()
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_store_url"))
    return f"sqlite:///{tmp_path / 'meta.db'}"


def test_concurrent_registrations_and_alias_moves_lose_nothing(
    store_url: str, tmp_path: Path
) -> None:
    MetadataStore(store_url).close()  # migrated up front: this test is about writers
    root, gate = tmp_path / "artifacts", tmp_path / "gate"
    gate.mkdir()
    args = [store_url, str(root), str(gate)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, *args, str(w), str(EACH), str(ROLLBACK_EVERY)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PROCESSES)
    ]
    deadline = time.monotonic() + 60
    while len(list(gate.glob("ready-*"))) < PROCESSES and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break  # a worker died before the start; its error is reported below
        time.sleep(0.01)
    (gate / "go").touch()
    reported: list[int] = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert "locked" not in err
        reported += [int(line) for line in out.split()]

    total = PROCESSES * EACH
    assert sorted(reported) == list(range(1, total + 1))  # each process got its own numbers

    store = MetadataStore(store_url)
    try:
        registry = Registry(store, artifacts=LocalArtifactStore(root))
        versions = registry.versions("churn")
        assert [v.version for v in versions] == list(range(1, total + 1))
        # No registration lost or doubled: every (worker, i) is there exactly once.
        made = sorted((int(v.tags["worker"]), int(v.properties["i"])) for v in versions)
        assert made == [(w, i) for w in range(PROCESSES) for i in range(EACH)]

        log = registry.history("churn", "production")
        rollbacks = [m for m in log if m.reason.startswith("rollback of move #")]
        assert len(rollbacks) == PROCESSES * (EACH // ROLLBACK_EVERY)
        assert len(log) == total + len(rollbacks)
        # Every version was promoted exactly once (rollbacks aside).
        promoted = sorted(m.to_version or 0 for m in log if m not in rollbacks)
        assert promoted == list(range(1, total + 1))
        assert log[0].from_version is None
        for before, after in zip(log, log[1:], strict=False):
            assert after.from_version == before.to_version, (before, after)
            assert after.id is not None and before.id is not None and after.id > before.id
        for k, move in enumerate(log):
            if move in rollbacks:  # undoes exactly the move logged just before it
                assert move.reason.startswith(f"rollback of move #{log[k - 1].id}:")
                assert move.to_version == log[k - 1].from_version
        assert registry.get("churn@production").version == log[-1].to_version
    finally:
        store.close()
