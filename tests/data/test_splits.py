"""Split properties: deterministic, disjoint, complete, group-pure, stable on append."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.data import ingest

FAST = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _assign(
    tmp: Path, table: pa.Table, splits: dict, seed: int = 0, key: str | None = "id"
) -> dict[int, str]:
    import tempfile

    folder = Path(tempfile.mkdtemp(dir=tmp))
    pq.write_table(table, folder / "d.parquet")
    out = folder / "out"
    out.mkdir()
    ds = ingest(
        {"path": "d.parquet"}, out, root=folder, splits=splits, seed=seed, key=key, statistics=False
    ).dataset
    found: dict[int, str] = {}
    for s in ds.splits:
        for i in ds.to_table(s, columns=["id"])["id"].to_pylist():
            assert i not in found, f"row {i} is in {found[i]} and {s}"
            found[i] = s
    return found


def _table(n: int, groups: int = 7) -> pa.Table:
    rng = np.random.default_rng(n)
    return pa.table({"id": np.arange(n), "g": rng.integers(0, groups, n), "x": rng.normal(size=n)})


fractions = st.tuples(st.integers(1, 8), st.integers(0, 4), st.integers(0, 4)).map(
    lambda t: {"train": t[0] / sum(t), "eval": t[1] / sum(t), "test": t[2] / sum(t)}
)


@FAST
@given(n=st.integers(1, 400), f=fractions, seed=st.integers(0, 3), keyed=st.booleans())
def test_random_split_is_complete_disjoint_and_deterministic(
    tmp_path: Path, n: int, f: dict, seed: int, keyed: bool
) -> None:
    splits = {"method": "random", **f}
    key = "id" if keyed else None
    a = _assign(tmp_path, _table(n), splits, seed, key)
    assert sorted(a) == list(range(n))
    assert a == _assign(tmp_path, _table(n), splits, seed, key)
    if f["eval"] == 0:
        assert "eval" not in a.values()


def test_fractions_are_respected_and_the_seed_matters(tmp_path: Path) -> None:
    splits = {"method": "random", "train": 0.7, "eval": 0.2, "test": 0.1}
    a = _assign(tmp_path, _table(20_000), splits, seed=1)
    counts = {s: sum(1 for v in a.values() if v == s) for s in ("train", "eval", "test")}
    assert abs(counts["train"] / 20_000 - 0.7) < 0.02 and abs(counts["test"] / 20_000 - 0.1) < 0.02
    b = _assign(tmp_path, _table(20_000), splits, seed=2)
    assert sum(a[i] != b[i] for i in a) > 1000


@FAST
@given(n=st.integers(10, 300), groups=st.integers(1, 30), seed=st.integers(0, 3))
def test_group_split_keeps_each_group_in_one_split(
    tmp_path: Path, n: int, groups: int, seed: int
) -> None:
    table = _table(n, groups)
    a = _assign(
        tmp_path,
        table,
        {"method": "group", "group_column": "g", "train": 0.6, "eval": 0.2, "test": 0.2},
        seed,
        None,
    )
    where: dict[int, set[str]] = {}
    for i, g in zip(table["id"].to_pylist(), table["g"].to_pylist(), strict=True):
        where.setdefault(g, set()).add(a[i])
    assert all(len(s) == 1 for s in where.values())


@FAST
@given(n=st.integers(5, 300), extra=st.integers(1, 200), keyed=st.booleans())
def test_appending_rows_moves_no_existing_row(
    tmp_path: Path, n: int, extra: int, keyed: bool
) -> None:
    splits = {"method": "random", "train": 0.8, "eval": 0.1, "test": 0.1}
    table = _table(n + extra)
    before = _assign(tmp_path, table.slice(0, n), splits, 0, "id" if keyed else None)
    after = _assign(tmp_path, table, splits, 0, "id" if keyed else None)
    assert all(after[i] == s for i, s in before.items())


def test_time_split_with_cutoffs(tmp_path: Path) -> None:
    ts = np.datetime64("2024-01-01T00:00:00") + np.arange(100).astype("timedelta64[D]")
    table = pa.table({"id": np.arange(100), "ts": pa.array(ts.astype("datetime64[s]"))})
    splits = {
        "method": "time",
        "time_column": "ts",
        "cutoffs": ["2024-02-01", "2024-03-01"],
        "train": 0.8,
        "eval": 0.1,
        "test": 0.1,
    }
    a = _assign(tmp_path, table, splits, key=None)
    assert [a[i] for i in (0, 30, 31, 59, 60, 99)] == [
        "train",
        "train",
        "eval",
        "eval",
        "test",
        "test",
    ]


@pytest.mark.parametrize(
    "bad", [{"method": "group", "group_column": "nope"}, {"method": "time", "time_column": "nope"}]
)
def test_unknown_split_columns_are_named(tmp_path: Path, bad: dict) -> None:
    from shipyard.errors import ConfigError

    with pytest.raises(ConfigError, match="'nope' is not in the data"):
        _assign(tmp_path, _table(10), {"train": 0.8, "eval": 0.1, "test": 0.1, **bad})
