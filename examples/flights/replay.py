"""Replay months of flights through a running server, as if time had passed (`make demo`).

Builds the rows the server expects from data/*.parquet with the same joins as
`shipyard.yaml`'s query, samples ``--rows`` flights of each month asked for
(a fixed seed), and sends them to ``POST /predict`` in batches, in time order,
so the server's prediction log holds the months one after the other. The key
column (``flight_id``) goes with each row so that labels can be joined later;
``--labels FILE`` writes them (flight_id, late) for `shipyard monitor labels`.

Usage::

    python replay.py URL 2013-07 2013-08 2013-09 [--rows 2000] [--batch 50] [--labels FILE]
"""

# ruff: noqa: S310 - every URL opened here is the http://127.0.0.1 server the demo starts

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent

ROWS = """
SELECT
  strftime(f.time_hour, '%Y-%m-%d') || ' ' || f.carrier || f.flight || ' ' || f.origin AS flight_id,
  f.day, isodow(f.time_hour) AS day_of_week,
  f.hour, f.minute, f.sched_dep_time, f.dep_time, f.dep_delay, f.sched_arr_time,
  f.carrier, f.origin, f.dest, f.distance,
  w.temp AS weather_temp, w.dewp AS weather_dewp, w.humid AS weather_humid,
  w.wind_dir AS weather_wind_dir, w.wind_speed AS weather_wind_speed,
  w.wind_gust AS weather_wind_gust, w.precip AS weather_precip,
  w.pressure AS weather_pressure, w.visib AS weather_visib,
  p.year AS plane_year, p.type AS plane_type, p.manufacturer AS plane_manufacturer,
  p.model AS plane_model, p.engines AS plane_engines, p.seats AS plane_seats,
  p.engine AS plane_engine,
  f.arr_delay > 15 AS late
FROM read_parquet('{data}/flights.parquet') AS f
LEFT JOIN read_parquet('{data}/weather.parquet') AS w
  ON w.origin = f.origin AND w.time_hour = f.time_hour
LEFT JOIN read_parquet('{data}/planes.parquet') AS p ON p.tailnum = f.tailnum
WHERE f.arr_delay IS NOT NULL AND strftime(f.time_hour, '%Y-%m') = ?
ORDER BY hash(flight_id) LIMIT ?
"""


def month_rows(month: str, rows: int) -> pa.Table:
    """A fixed sample of ``rows`` flights of ``month`` ('2013-08'), in departure order."""
    query = ROWS.format(data=(HERE / "data").as_posix())
    table = duckdb.connect().sql(query, params=[month, rows]).to_arrow_table()
    return table.sort_by("flight_id")


def post(url: str, body: bytes) -> tuple[dict[str, Any], str]:
    request = urllib.request.Request(
        f"{url}/predict", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read()), r.headers.get("x-shipyard-model-version", "?")


def request_columns(url: str) -> list[str]:
    """The served model's inputs (its V2 metadata), and the key column, logged with each row."""
    meta = json.loads(urllib.request.urlopen(f"{url}/v2/models/flights", timeout=10).read())
    return [i["name"] for i in meta["inputs"]] + ["flight_id"]


def replay(url: str, months: list[str], rows: int, batch: int) -> tuple[pa.Table, Counter[str]]:
    """Send the months' rows; returns the labels (flight_id, late) and the versions that answered."""
    names = request_columns(url)
    versions: Counter[str] = Counter()
    labels = []
    for month in months:
        table = month_rows(month, rows)
        labels.append(table.select(["flight_id", "late"]))
        records = table.select(names).to_pylist()
        for start in range(0, len(records), batch):
            body = json.dumps({"records": records[start : start + batch]}).encode()
            _, version = post(url, body)
            versions[version] += 1
        print(f"  replayed {len(records):,} flights of {month}")
    return pa.concat_tables(labels), versions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("months", nargs="+")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--labels", type=Path)
    args = parser.parse_args()
    labels, versions = replay(args.url, args.months, args.rows, args.batch)
    if args.labels:
        pq.write_table(labels, args.labels)
    print(
        "  answered by version(s): " + ", ".join(f"{v} ({n} requests)" for v, n in versions.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
