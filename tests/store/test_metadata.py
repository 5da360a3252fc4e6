from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect as sa_inspect

from shipyard.errors import ReferenceError_, StoreError
from shipyard.store import _tables
from shipyard.store.metadata import SCHEMA_HEAD, MetadataStore


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meta.db'}"


def test_new_store_is_migrated_to_head_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = MetadataStore(_url(tmp_path))
    assert store.schema_version() == SCHEMA_HEAD
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30000


def test_migrations_create_exactly_the_tables_the_code_uses(tmp_path: Path) -> None:
    store = MetadataStore(_url(tmp_path))
    insp = sa_inspect(store.engine)
    for name, table in _tables.metadata.tables.items():
        columns = {c["name"] for c in insp.get_columns(name)}
        assert columns == {c.name for c in table.columns}, name


def test_a_new_store_gets_the_same_schema_as_the_migrations_build(tmp_path: Path) -> None:
    """New stores skip Alembic (create_all + stamp); the result must equal migrating."""
    from alembic import command
    from alembic.config import Config

    fast = MetadataStore(f"sqlite:///{tmp_path / 'fast.db'}")
    slow_engine = MetadataStore(f"sqlite:///{tmp_path / 'slow.db'}").engine
    with slow_engine.begin() as conn:  # rebuild the second store through the migrations
        for name in reversed(_tables.metadata.sorted_tables):
            conn.exec_driver_sql(f"DROP TABLE {name.name}")
        conn.exec_driver_sql("DROP TABLE alembic_version")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(_tables.__file__).with_name("migrations")))
    with slow_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

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

    assert shape(fast.engine) == shape(slow_engine)


def test_schema_head_is_the_newest_migration() -> None:
    versions = Path(_tables.__file__).with_name("migrations") / "versions"
    revisions = sorted(p.name.split("_")[0] for p in versions.glob("[0-9]*.py"))
    assert revisions[-1] == SCHEMA_HEAD


def test_an_older_store_is_upgraded(tmp_path: Path) -> None:
    """A store whose schema is behind (no alembic_version yet) is brought to head on open."""
    db = tmp_path / "meta.db"
    sqlite3.connect(db).execute("CREATE TABLE unrelated (x INTEGER)").connection.commit()
    store = MetadataStore(f"sqlite:///{db}")
    assert store.schema_version() == SCHEMA_HEAD
    assert store.counts()["runs"] == 0


def test_runs_are_named_and_resolved(tmp_path: Path) -> None:
    store = MetadataStore(_url(tmp_path))
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


def test_metrics_keep_history_and_last_value(tmp_path: Path) -> None:
    store = MetadataStore(_url(tmp_path))
    run_id, _ = store.create_run(pipeline="p", source="", seed=0, params={})
    store.log_metrics(run_id, [("loss", 1.0, 0, 1.0), ("loss", 0.5, 1, 2.0), ("auc", 0.9, 0, 2.0)])
    assert [v for _, v, _ in store.metric_history(run_id, "loss")] == [1.0, 0.5]
    assert store.list_runs()[0]["metrics"] == {"loss": 0.5, "auc": 0.9}


def test_password_in_url_is_masked_in_errors() -> None:
    with pytest.raises(StoreError) as info:
        MetadataStore("postgresql+psycopg2://user:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(info.value)


_WRITER = """
import sys
from shipyard.store.metadata import MetadataStore
store = MetadataStore(sys.argv[1])
for i in range(40):
    store.create_run(pipeline="p", source="", seed=0, params={"i": i})
"""


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    url = _url(tmp_path)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    runs = MetadataStore(url).list_runs()
    assert len(runs) == 120
    assert len({r["name"] for r in runs}) == 120
