"""The metadata store on PostgreSQL: what SQLite cannot show, and a whole run through the CLI.

The store's own suite (``test_metadata.py``) runs on both backends; these tests
need a server (`bash .ci/postgres.sh`) and skip without one, except under CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect as sa_inspect

from shipyard.errors import StoreError
from shipyard.store import _tables
from shipyard.store import metadata as metadata_module
from shipyard.store.metadata import SCHEMA_HEAD, MetadataStore

from ..conftest import cli, write


@pytest.fixture
def open_store(pg_store_url: str) -> Iterator[Callable[[], MetadataStore]]:
    """Open the test's PostgreSQL store; every store opened is closed after the test."""
    opened: list[MetadataStore] = []

    def open_() -> MetadataStore:
        opened.append(MetadataStore(pg_store_url))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


def test_a_new_store_is_stamped_at_head_with_the_tables_of_the_code(
    open_store: Callable[[], MetadataStore],
) -> None:
    store = open_store()
    with store.read() as conn:
        versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    assert versions == [SCHEMA_HEAD]
    insp = sa_inspect(store.engine)
    assert set(insp.get_table_names()) == {*_tables.metadata.tables, "alembic_version"}
    for name, table in _tables.metadata.tables.items():
        assert {c["name"] for c in insp.get_columns(name)} == {c.name for c in table.columns}


_OPENER = """
import sys
from shipyard.store.metadata import MetadataStore
store = MetadataStore(sys.argv[1])
store.create_run(pipeline="p", source="", seed=0, params={})
store.close()
"""


def test_processes_opening_a_new_store_at_once_build_it_once(
    pg_store_url: str, open_store: Callable[[], MetadataStore]
) -> None:
    """The first open creates the schema under an advisory lock; the others wait, then use it."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, pg_store_url], stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = open_store()
    assert store.schema_version() == SCHEMA_HEAD
    assert sorted(r["name"] for r in store.list_runs()) == ["p-1", "p-2", "p-3"]


def test_a_writer_waits_for_the_write_lock_and_gives_up_after_the_busy_timeout(
    open_store: Callable[[], MetadataStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Write transactions queue as on SQLite; one stuck behind another errors, never hangs."""
    first, second = open_store(), open_store()
    monkeypatch.setattr(metadata_module, "BUSY_TIMEOUT_S", 0.3)
    with first.write():
        started = time.monotonic()
        with pytest.raises(StoreError, match="lock timeout"):
            second.create_run(pipeline="p", source="", seed=0, params={})
        assert 0.2 < time.monotonic() - started < 10
    # The lock went with the transaction: writing works again, and nothing half-written stayed.
    assert second.create_run(pipeline="p", source="", seed=0, params={})[1] == "p-1"


PIPE = """
import shipyard
from shipyard import pipeline, step

@step
def make(n: int = 3) -> list:
    return list(range(n))

@step
def total(xs: list, scale: float = 1.0) -> shipyard.Metrics:
    return shipyard.Metrics(total=sum(xs) * scale)

@pipeline
def p(n: int = 3, scale: float = 1.0):
    total(make(n), scale=scale)
"""


def test_a_pipeline_runs_lists_and_shows_with_its_metadata_on_postgres(
    project_dir: Path, pg_store_url: str, open_store: Callable[[], MetadataStore]
) -> None:
    """``SHIPYARD_STORE_URL`` sends the real CLI's metadata to PostgreSQL; nothing to SQLite."""
    write(project_dir, "pipe.py", PIPE)
    env = {"SHIPYARD_STORE_URL": pg_store_url}

    first = cli("run", "pipe.py:p", "--param", "n=4", "--json", cwd=project_dir, env=env)
    assert first.returncode == 0, first.stderr
    ran = json.loads(first.stdout)
    assert [s["cache_hit"] for s in ran["steps"]] == [False, False]
    again = cli("run", "pipe.py:p", "--param", "n=4", "--json", cwd=project_dir, env=env)
    assert again.returncode == 0, again.stderr
    assert [s["cache_hit"] for s in json.loads(again.stdout)["steps"]] == [True, True]

    listed = cli("runs", "--json", cwd=project_dir, env=env)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["name"] for r in runs] == ["p-2", "p-1"]
    assert runs[1]["id"] == ran["id"] and runs[1]["status"] == "succeeded"
    assert runs[1]["params"] == {"n": 4, "scale": 1.0}
    assert runs[1]["metrics"] == {"total": 6.0}

    shown = cli("show", "p-1", "--json", cwd=project_dir, env=env)
    assert shown.returncode == 0, shown.stderr
    details = json.loads(shown.stdout)
    assert details["id"] == ran["id"] and details["metrics"] == {"total": 6.0}
    text = cli("show", ran["id"][:8], cwd=project_dir, env=env)
    assert text.returncode == 0 and "make" in text.stdout and "total" in text.stdout

    lineage = cli("lineage", f"run:{ran['id'][:8]}", "--json", cwd=project_dir, env=env)
    assert lineage.returncode == 0, lineage.stderr
    assert json.loads(lineage.stdout)["roots"][0]["upstream"][0]["label"].startswith("step total")

    # The rows are in PostgreSQL, and the project made no SQLite store of its own.
    assert not (project_dir / ".shipyard" / "metadata.db").exists()
    counts = open_store().counts()
    assert counts["runs"] == 2 and counts["executions"] == 4 and counts["metrics"] >= 1
