"""kill -9 in the middle of registrations, many times at random points (RELIABILITY 9).

Afterwards the SQLite file is sound, every registration is wholly there or
wholly absent (its version, its alias move and its log entry together), and
no version points to an artifact whose files are missing.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from shipyard.registry import Registry
from shipyard.store.artifacts import LocalArtifactStore
from shipyard.store.metadata import MetadataStore

ROUNDS = 12

# Registers as fast as it can, until it is killed: each version gets a fresh
# artifact (files, then row) and moves `production` in the same transaction.
_LOOP = r"""
import sys
from shipyard.pipeline.materializers import save_value
from shipyard.registry import Registry
from shipyard.store.artifacts import LocalArtifactStore
from shipyard.store.metadata import MetadataStore

url, root, tag = sys.argv[1:4]
store = MetadataStore(url)
artifacts = LocalArtifactStore(root)
registry = Registry(store, artifacts=artifacts)
print("ready", flush=True)
i = 0
while True:
    info = save_value({"round": tag, "i": i, "pad": "x" * (i % 7) * 1000}, artifacts)
    with store.write() as conn:
        store.record_artifact(conn, info)
    registry.register(
        "churn", info["digest"], blessed=True, alias="production", reason=f"{tag}-{i}"
    )
    i += 1
"""


def test_kill_9_during_registrations_leaves_whole_operations_only(tmp_path: Path) -> None:
    db, root = tmp_path / "meta.db", tmp_path / "artifacts"
    url = f"sqlite:///{db}"
    MetadataStore(url).close()
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for n in range(ROUNDS):
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOOP, url, str(root), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.strip() == "ready", proc.communicate()[1]
        time.sleep(rng.uniform(0.02, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, f"seed {seed}: the loop ended by itself"

    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"seed {seed}"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == [], f"seed {seed}"
    finally:
        con.close()

    store = MetadataStore(url)
    try:
        artifacts = LocalArtifactStore(root)
        registry = Registry(store, artifacts=artifacts)
        versions = registry.versions("churn")
        total = len(versions)
        assert total > 0, f"seed {seed}: nothing was registered before the kills"
        assert [v.version for v in versions] == list(range(1, total + 1)), f"seed {seed}"
        for v in versions:  # every version's files are there and intact
            assert artifacts.exists(v.artifact), f"seed {seed}: {v.ref} has no files"
            artifacts.path(v.artifact, verify=True)
        # Each registration moved the alias in its own transaction: one log entry per
        # version, in order, and the alias on the newest version.
        log = registry.history("churn", "production")
        assert [m.to_version for m in log] == list(range(1, total + 1)), f"seed {seed}"
        assert [m.from_version for m in log] == [None, *range(1, total)], f"seed {seed}"
        assert registry.get("churn@production").version == total
        # The store takes new work where it stopped.
        info_digest = versions[-1].artifact
        assert registry.register("churn", info_digest, blessed=True).version == total + 1
    finally:
        store.close()
