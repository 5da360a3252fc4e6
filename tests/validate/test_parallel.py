"""Shards summarized in parallel processes and merged equal the whole, within sketch bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.validate.parallel import shard_statistics


def test_parallel_shards_merge_to_the_statistics_of_the_whole(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=60_000)
    c = rng.choice(["a", "b", "c"], 60_000)
    files = []
    for i in range(4):
        f = tmp_path / f"part-{i}.parquet"
        sl = slice(i * 15_000, (i + 1) * 15_000)
        pq.write_table(pa.table({"x": x[sl], "c": c[sl]}), f)
        files.append(f)
    merged = shard_statistics(files, workers=2)
    col = merged.columns["x"]
    assert merged.num_rows == 60_000 and col.count == 60_000
    assert np.isclose(col.mean, x.mean()) and np.isclose(col.std, x.std())
    assert col.min == x.min() and col.max == x.max()
    median = col.quantiles([0.5])[0]
    rank = (x < median).mean()
    assert abs(rank - 0.5) <= col.quantile_error + 1e-9
    assert dict(merged.columns["c"].top(3)) == {v: int((c == v).sum()) for v in ("a", "b", "c")}
    serial = shard_statistics(files, workers=1)
    assert serial.columns["x"].mean == col.mean and serial.columns["c"].top(3) == merged.columns[
        "c"
    ].top(3)
