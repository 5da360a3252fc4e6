"""The metadata store's tests. Those marked by a ``url`` run on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy import inspect as sa_inspect

from shipyard.errors import ReferenceError_, StoreError
from shipyard.store import _tables
from shipyard.store.metadata import SCHEMA_HEAD, MetadataStore


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meta.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store's URL: a SQLite file, or a PostgreSQL database of the test's own."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_store_url"))
    return _url(tmp_path)


@pytest.fixture
def open_store(url: str) -> Iterator[Callable[[], MetadataStore]]:
    """Open the store at ``url``; every store opened is closed after the test.

    Closing matters on PostgreSQL: a pooled connection left open keeps the test's
    database busy, and psycopg warns about it when it is garbage collected.
    """
    opened: list[MetadataStore] = []

    def open_() -> MetadataStore:
        opened.append(MetadataStore(url))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


def test_new_store_is_migrated_to_head_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = MetadataStore(_url(tmp_path))
    assert store.schema_version() == SCHEMA_HEAD
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30000


def test_migrations_create_exactly_the_tables_the_code_uses(
    open_store: Callable[[], MetadataStore],
) -> None:
    store = open_store()
    assert store.schema_version() == SCHEMA_HEAD
    insp = sa_inspect(store.engine)
    for name, table in _tables.metadata.tables.items():
        columns = {c["name"] for c in insp.get_columns(name)}
        assert columns == {c.name for c in table.columns}, name


def test_a_new_store_gets_the_same_schema_as_the_migrations_build(
    open_store: Callable[[], MetadataStore],
) -> None:
    """New stores skip Alembic (create_all + stamp); the result must equal migrating."""
    from alembic import command
    from alembic.config import Config

    def shape(engine: object) -> dict[str, object]:
        insp = sa_inspect(engine)
        return {
            t: (
                sorted((c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)),
                sorted(tuple(i["column_names"]) for i in insp.get_indexes(t)),
                insp.get_pk_constraint(t)["constrained_columns"],
            )
            for t in sorted(insp.get_table_names())
        }

    engine = open_store().engine
    fast = shape(engine)
    with engine.begin() as conn:  # rebuild the same store through the migrations
        for name in reversed(_tables.metadata.sorted_tables):
            conn.exec_driver_sql(f"DROP TABLE {name.name}")
        conn.exec_driver_sql("DROP TABLE alembic_version")
    assert shape(engine) == {}
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(_tables.__file__).with_name("migrations")))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    assert fast == shape(engine)


def test_schema_head_is_the_newest_migration() -> None:
    versions = Path(_tables.__file__).with_name("migrations") / "versions"
    revisions = sorted(p.name.split("_")[0] for p in versions.glob("[0-9]*.py"))
    assert revisions[-1] == SCHEMA_HEAD


def test_an_older_store_is_upgraded(url: str, open_store: Callable[[], MetadataStore]) -> None:
    """A store whose schema is behind (no alembic_version yet) is brought to head on open."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    engine.dispose()
    store = open_store()
    assert store.schema_version() == SCHEMA_HEAD
    assert store.counts()["runs"] == 0
    assert "unrelated" in sa_inspect(store.engine).get_table_names()


def test_runs_are_named_and_resolved(open_store: Callable[[], MetadataStore]) -> None:
    store = open_store()
    a, name_a = store.create_run(pipeline="p", source="p.py:p", seed=0, params={"x": 1})
    b, name_b = store.create_run(pipeline="p", source="p.py:p", seed=0, params={})
    assert (name_a, name_b) == ("p-1", "p-2")
    assert store.resolve_run(a[:8])["id"] == a
    assert store.resolve_run("p-2")["id"] == b
    assert store.resolve_run(f"run:{a}")["id"] == a
    with pytest.raises(ReferenceError_, match="no run"):
        store.resolve_run("nope")
    with pytest.raises(StoreError, match="already exists"):
        store.create_run(pipeline="p", source="", seed=0, params={}, name="p-1")


def test_metrics_keep_history_and_last_value(open_store: Callable[[], MetadataStore]) -> None:
    store = open_store()
    run_id, _ = store.create_run(pipeline="p", source="", seed=0, params={})
    store.log_metrics(run_id, [("loss", 1.0, 0, 1.0), ("loss", 0.5, 1, 2.0), ("auc", 0.9, 0, 2.0)])
    assert [v for _, v, _ in store.metric_history(run_id, "loss")] == [1.0, 0.5]
    assert store.list_runs()[0]["metrics"] == {"loss": 0.5, "auc": 0.9}


def test_password_in_url_is_masked_in_errors() -> None:
    with pytest.raises(StoreError) as info:
        MetadataStore("postgresql+psycopg2://user:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(info.value)


# Writers start together (a ready file each, then a go file), so their transactions
# interleave; every one records the same environment, so that row races too.
_WRITER = """
import os, sys, time
from pathlib import Path
from shipyard.store.metadata import MetadataStore
url, gate = sys.argv[1], Path(sys.argv[2])
env = {"digest": "e" * 64, "python": "3", "platform": "p", "cpu": "c", "packages": {}}
store = MetadataStore(url)
(gate / f"ready-{os.getpid()}").touch()
while not (gate / "go").exists():
    time.sleep(0.002)
for i in range(40):
    store.create_run(pipeline="p", source="", seed=0, params={"i": i}, environment=env)
store.close()
"""


def test_concurrent_writers_lose_nothing(
    url: str, open_store: Callable[[], MetadataStore], tmp_path: Path
) -> None:
    """3 processes x 40 runs: 120 runs, uniquely named, whatever the interleaving."""
    open_store()  # migrated up front: this test is about writers, not the first open
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, str(gate)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    deadline = time.monotonic() + 60
    while len(list(gate.glob("ready-*"))) < 3 and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break  # a writer died before the start; its error is reported below
        time.sleep(0.01)
    (gate / "go").touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    runs = open_store().list_runs()
    assert len(runs) == 120
    assert {r["name"] for r in runs} == {f"p-{n}" for n in range(1, 121)}
    assert sorted(r["params"]["i"] for r in runs) == sorted(list(range(40)) * 3)
