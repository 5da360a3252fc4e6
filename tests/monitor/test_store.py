"""The monitor's tables: a store made by the 0001 schema is upgraded, and gc keeps report artifacts."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, insert
from sqlalchemy import inspect as sa_inspect

from shipyard.store import _tables as t
from shipyard.store.metadata import SCHEMA_HEAD, MetadataStore


def test_a_0001_store_is_upgraded_with_its_rows_kept(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(t.__file__).with_name("migrations")))
    with engine.begin() as conn:  # the store as Shipyard with only migration 0001 made it
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(insert(t.models).values(name="loans", description="", created_at=1.0))
    tables = set(sa_inspect(engine).get_table_names())
    assert "models" in tables and "monitor_windows" not in tables
    engine.dispose()

    store = MetadataStore(url)
    try:
        assert store.schema_version() == SCHEMA_HEAD == "0002"
        names = set(sa_inspect(store.engine).get_table_names())
        assert {"monitor_windows", "monitor_actions"} <= names
        assert store.counts()["models"] == 1  # nothing lost on the way
        assert store.counts()["monitor_windows"] == 0
    finally:
        store.close()


def test_gc_keeps_the_reports_that_windows_reference(tmp_path: Path) -> None:
    import json

    from shipyard.monitor._store import store_window

    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        digest = "a" * 64
        info = {"digest": digest, "type": "json", "python_type": "dict", "uri": "x", "size": 1}
        window = store_window(
            store,
            model="loans",
            ref="loans@production",
            versions=["1"],
            start=0.0,
            end=1.0,
            rows=0,
            metrics={"rows": 0.0},
            cursor={"end": 1.0},
            previous={},
            artifact=info,
        )
        assert window == 1
        assert digest in store.referenced_digests()
        again = store_window(  # a second monitor that read the same cursor stores nothing
            store,
            model="loans",
            ref="loans@production",
            versions=["1"],
            start=0.0,
            end=1.0,
            rows=0,
            metrics={},
            cursor={"end": 1.0},
            previous={},
            artifact=None,
        )
        assert again is None and store.counts()["monitor_windows"] == 1
        assert json.loads(json.dumps(store.counts()))["monitor_actions"] == 0
    finally:
        store.close()
