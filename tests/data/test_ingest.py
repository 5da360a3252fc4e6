"""Ingestion from real files and databases, including broken ones."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from shipyard.data import Dataset, ingest
from shipyard.errors import ConfigError, DataSourceError

SPLITS = {"method": "random", "train": 0.8, "eval": 0.1, "test": 0.1}


def _table(n: int = 1000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": np.arange(n),
            "x": rng.normal(size=n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "ts": pa.array(
                (
                    np.datetime64("2024-01-01")
                    + rng.integers(0, 365 * 24, n).astype("timedelta64[h]")
                ).astype("datetime64[s]")
            ),
            "y": rng.integers(0, 2, n),
        }
    )


def _run(tmp_path: Path, source: dict, **kw: object) -> Dataset:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    kw.setdefault("splits", SPLITS)
    return ingest(source, out, root=tmp_path, statistics=False, **kw).dataset  # type: ignore[arg-type]


def _all_ids(ds: Dataset) -> list[int]:
    return sorted(i for s in ds.splits for i in ds.to_table(s, columns=["id"])["id"].to_pylist())


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_each_file_format(tmp_path: Path, fmt: str) -> None:
    table = _table(500)
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        pacsv.write_csv(table, path)
    elif fmt == "parquet":
        pq.write_table(table, path)
    else:
        path.write_text("\n".join(json.dumps(r, default=str) for r in table.to_pylist()) + "\n")
    ds = _run(tmp_path, {"path": path.name})
    assert ds.num_rows() == 500 and _all_ids(ds) == list(range(500))
    assert set(ds.splits) == {"train", "eval", "test"}
    assert 300 < ds.num_rows("train") < 500
    meta = json.loads((ds.path / "dataset.json").read_text())
    assert [f["name"] for f in meta["schema"]] == ["id", "x", "city", "ts", "y"]


def test_hive_partitioned_parquet_folder_and_globs(tmp_path: Path) -> None:
    table = _table(600)
    pq.write_to_dataset(table, tmp_path / "lake", partition_cols=["city"])
    ds = _run(tmp_path, {"path": "lake", "kind": "parquet"})
    assert ds.num_rows() == 600 and "city" in ds.schema.names
    for i in range(3):
        pacsv.write_csv(table.slice(i * 200, 200), tmp_path / f"part-{i}.csv")
    ds2 = _run(tmp_path, {"path": "part-*.csv"})
    assert _all_ids(ds2) == list(range(600))


def test_sqlite_table_and_query(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (id INTEGER, x REAL, city TEXT)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?)", [(i, i / 10, "abc"[i % 3]) for i in range(120_000)]
    )
    con.commit()
    con.close()
    ds = _run(tmp_path, {"kind": "sql", "url": f"sqlite:///{db}", "table": "t"})
    assert ds.num_rows() == 120_000
    q = _run(
        tmp_path,
        {"kind": "sql", "url": f"sqlite:///{db}", "query": "SELECT id, x FROM t WHERE id < 10"},
    )
    assert q.num_rows() == 10 and q.schema.names == ["id", "x"]


def test_duckdb_query_joining_files_with_root_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    pq.write_table(
        pa.table({"id": [1, 2, 3], "city": ["a", "b", "c"]}), tmp_path / "data" / "left.parquet"
    )
    pq.write_table(
        pa.table({"city": ["a", "b"], "pop": [10, 20]}), tmp_path / "data" / "right.parquet"
    )
    query = (
        "SELECT l.id, l.city, r.pop FROM read_parquet('data/left.parquet') l"
        " LEFT JOIN read_parquet('data/right.parquet') r USING (city)"
    )
    ds = _run(tmp_path, {"kind": "duckdb", "query": query}, splits=None)
    rows = sorted(ds.to_table("all").to_pylist(), key=lambda r: r["id"])
    assert rows == [
        {"id": 1, "city": "a", "pop": 10},
        {"id": 2, "city": "b", "pop": 20},
        {"id": 3, "city": "c", "pop": None},
    ]


def test_derived_target_and_as_of(tmp_path: Path) -> None:
    pq.write_table(_table(1000), tmp_path / "d.parquet")
    ds = _run(
        tmp_path,
        {"path": "d.parquet"},
        splits={"method": "time", "time_column": "ts", "train": 0.6, "eval": 0.2, "test": 0.2},
        target="big",
        target_expr="x > 0",
        as_of=datetime(2024, 7, 1),
    )
    t = pa.concat_tables(ds.to_table(s) for s in ds.splits)
    assert t.schema.field("big").type == pa.bool_()
    assert np.array_equal(t["big"].to_numpy(zero_copy_only=False), t["x"].to_numpy() > 0)
    assert max(t["ts"].to_pylist()) <= datetime(2024, 7, 1)
    tr, ev, te = (ds.to_table(s)["ts"].to_pylist() for s in ("train", "eval", "test"))
    assert max(tr) < min(ev) and max(ev) < min(te)


def test_same_input_gives_identical_shards(tmp_path: Path) -> None:
    pacsv.write_csv(_table(3000), tmp_path / "d.csv")
    digests = []
    for i in range(2):
        out = tmp_path / f"o{i}"
        out.mkdir()
        ingest({"path": "d.csv"}, out, root=tmp_path, splits=SPLITS, statistics=False)
        digests.append(
            sorted(
                (p.relative_to(out).as_posix(), p.read_bytes())
                for p in out.rglob("*")
                if p.is_file()
            )
        )
    assert digests[0] == digests[1]


# -- broken input -------------------------------------------------------------


def _err(tmp_path: Path, source: dict, **kw: object) -> str:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    with pytest.raises((DataSourceError, ConfigError)) as info:
        ingest(source, out, root=tmp_path, statistics=False, **kw)  # type: ignore[arg-type]
    return str(info.value)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("")
    assert "e.csv: the file is empty" in _err(tmp_path, {"path": "e.csv"})


def test_header_only_file(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("a,b,c\n")
    msg = _err(tmp_path, {"path": "h.csv"})
    assert "h.csv" in msg and "no rows" in msg and "header" in msg


def test_wrong_delimiter_is_named(tmp_path: Path) -> None:
    (tmp_path / "semi.csv").write_text("a;b;c\n1;2;3\n4;5;6\n")
    msg = _err(tmp_path, {"path": "semi.csv", "options": {"delimiter": ","}})
    assert "semi.csv" in msg and "';'" in msg and "delimiter" in msg


def test_ragged_rows_name_the_line(tmp_path: Path) -> None:
    lines = (
        ["a,b,c"]
        + [f"{i},{i},{i}" for i in range(50)]
        + ["1,2,3,4,5"]
        + [f"{i},{i},{i}" for i in range(10)]
    )
    (tmp_path / "rag.csv").write_text("\n".join(lines) + "\n")
    msg = _err(tmp_path, {"path": "rag.csv"})
    assert "rag.csv" in msg and "52" in msg, msg


def test_bad_encoding(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(b"name,v\n" + "caf\xe9,1\n".encode("latin-1") * 5)
    msg = _err(tmp_path, {"path": "latin.csv"})
    assert "latin.csv" in msg and ("unicode" in msg.lower() or "utf" in msg.lower()), msg


def test_numeric_in_one_shard_text_in_another(tmp_path: Path) -> None:
    pq.write_table(pa.table({"v": [1, 2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"v": ["x", "y"]}), tmp_path / "b.parquet")
    msg = _err(tmp_path, {"path": "*.parquet"})
    assert "'v'" in msg and "a.parquet" in msg and "b.parquet" in msg


def test_numeric_then_text_across_csv_files(tmp_path: Path) -> None:
    (tmp_path / "p1.csv").write_text("v\n" + "\n".join(str(i) for i in range(100)) + "\n")
    (tmp_path / "p2.csv").write_text("v\n1\nabc\n")
    msg = _err(tmp_path, {"path": "p*.csv"})
    assert "p2.csv" in msg, msg


def test_missing_files_and_not_parquet(tmp_path: Path) -> None:
    assert "no file matches" in _err(tmp_path, {"path": "nothing-*.csv"})
    assert "no such file" in _err(tmp_path, {"path": "absent.csv"})
    (tmp_path / "fake.parquet").write_text("not parquet")
    assert "not a Parquet file" in _err(tmp_path, {"path": "fake.parquet"})


def test_unreachable_database_is_named_without_password(tmp_path: Path) -> None:
    msg = _err(
        tmp_path,
        {"kind": "sql", "url": "postgresql+psycopg://u:hunter2@127.0.0.1:1/db", "table": "t"},
    )
    assert "cannot read" in msg and "127.0.0.1:1" in msg and "hunter2" not in msg


def test_unknown_columns_in_config(tmp_path: Path) -> None:
    pq.write_table(_table(10), tmp_path / "d.parquet")
    assert "data.key" in _err(tmp_path, {"path": "d.parquet"}, key="nope")
    assert "data.target" in _err(tmp_path, {"path": "d.parquet"}, splits=None, target="nope")
    assert "not options of the Parquet reader" in _err(
        tmp_path, {"path": "d.parquet", "options": {"colour": 1}}
    )


def test_postgresql_table_as_a_source(tmp_path: Path, pg_store_url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(pg_store_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE flights (id bigint, delay double precision, carrier text, at timestamp)"
        )
        conn.exec_driver_sql(
            "INSERT INTO flights SELECT g, g / 10.0, CASE WHEN mod(g, 2) = 0 THEN 'AA' ELSE 'UA' END,"
            " timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 120000) g"
        )
    engine.dispose()
    ds = _run(tmp_path, {"kind": "sql", "url": pg_store_url, "table": "flights"}, key="id")
    assert ds.num_rows() == 120_000
    assert ds.schema.names == ["id", "delay", "carrier", "at"]
    assert str(ds.schema.field("at").type).startswith("timestamp")
    q = _run(
        tmp_path,
        {
            "kind": "sql",
            "url": pg_store_url,
            "query": "SELECT id FROM flights WHERE carrier = 'AA'",
        },
        splits=None,
    )
    assert q.num_rows() == 60_000
