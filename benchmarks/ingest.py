"""Ingest throughput: Shipyard's CSV -> split Parquet + statistics, against three references.

The script generates a CSV of ``--rows`` rows (20 million by default, 2.14
GB: 8 float, 2 int and 2 low-cardinality string columns, an ISO
timestamp and a 0/1 label), then one twice as large, and runs on each, one
at a time and each in its own process:

- ``duckdb``: ``COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet)``;
- ``polars``: ``pl.scan_csv(...).sink_parquet(...)`` (in a throwaway
  virtualenv outside the repository, never a dependency of the project);
- ``pyarrow``: ``pyarrow.csv.open_csv`` streamed into a ``ParquetWriter``;
- ``shipyard-nostats``: ``shipyard.data.ingest(..., statistics=False)``, a
  random 80/10/10 split into Parquet shards;
- ``shipyard``: the same with ``statistics=True``.

For each it reports the wall time, the throughput (input MB / s), the peak
RSS (read by a small runner process: ``RUSAGE_CHILDREN`` after the tool
exits) and the CPU time.
Each output is checked (row count from the Parquet footers) and deleted
before the next tool runs. ``--profile`` instead profiles Shipyard's ingest
of the first file in process: stages timed one by one (DuckDB parse, split
hash, filter, Parquet write, statistics), cProfile, statistics and Parquet
writing per column kind, and, when it can be installed, py-spy.

It is a measurement, not a test: it exits 0 when a goal is missed and says
MISSED. The last line of the output is one JSON object with every figure.

Usage::

    .venv/bin/python benchmarks/ingest.py --small          # 2M and 4M rows, a quick check
    .venv/bin/python benchmarks/ingest.py --repeat 3       # 20M and 40M rows (2.14 + 4.29 GB)
    .venv/bin/python benchmarks/ingest.py --profile        # where Shipyard's time goes
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Only the standard library at module level: the Polars worker runs this very
# file with the throwaway venv's python, which has neither pyarrow nor shipyard.

GOAL_THROUGHPUT_RATIO = 0.8  # Shipyard's MB/s over the fastest reference's
GOAL_RSS_MB = 1000.0  # peak RSS of Shipyard's ingest, MB (10^6 bytes)
GOAL_RSS_GROWTH = 0.10  # Shipyard's peak RSS when the input doubles, relative
DEFAULT_ROWS = 20_000_000
SMALL_ROWS = 2_000_000
GEN_CHUNK_ROWS = 500_000  # rows per generated chunk; each chunk has its own seed
GEN_VERSION = 1  # bump when the generated data change, so that cached files are not reused
EST_BYTES_PER_ROW = 110  # 107 measured; used for the disk check before generating
PYARROW_BLOCK_BYTES = 16 << 20  # CSV block per batch of the pyarrow reference (~150k rows)
SPLITS = {"method": "random", "train": 0.8, "eval": 0.1, "test": 0.1}
WORKDIR = Path(tempfile.gettempdir()) / "shipyard-ingest-bench"
POLARS_VENV = Path(tempfile.gettempdir()) / "bench-venvs" / "polars"
TOOLS = ("duckdb", "polars", "pyarrow", "shipyard-nostats", "shipyard")
REFERENCES = ("duckdb", "polars", "pyarrow")
MB = 1e6


# -- the data ----------------------------------------------------------------------------

S0_VALUES = [f"cat_{k:02d}" for k in range(12)]  # skewed: cat_00 is the most frequent
S1_VALUES = ["web", "ios", "android"]
TS_START = 1_735_689_600  # 2025-01-01T00:00:00Z


def csv_path(workdir: Path, rows: int, seed: int) -> Path:
    return workdir / f"ingest-{rows}rows-seed{seed}-v{GEN_VERSION}.csv"


def _chunk(index: int, rows: int, seed: int) -> Any:
    """Chunk ``index`` of the data: the same for a seed, whatever the file's length.

    A file of 2N rows therefore starts with the N rows of the smaller file.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng([seed, index])
    cols: dict[str, Any] = {}
    for i in range(8):
        # 4 decimals: 7 to 8 characters per value, about as wide as real measurements.
        cols[f"f{i}"] = pa.array(np.round(rng.normal(0.0, 10.0, rows), 4))
    cols["i0"] = pa.array(rng.integers(0, 1_000_000, rows))
    cols["i1"] = pa.array(rng.integers(-500, 500, rows))
    weights = 1.0 / np.arange(1, len(S0_VALUES) + 1)
    s0 = rng.choice(len(S0_VALUES), rows, p=weights / weights.sum())
    cols["s0"] = pc.take(pa.array(S0_VALUES), pa.array(s0))
    cols["s1"] = pc.take(pa.array(S1_VALUES), pa.array(rng.integers(0, len(S1_VALUES), rows)))
    seconds = TS_START + rng.integers(0, 365 * 86_400, rows)
    text = pc.cast(pa.array(seconds, pa.timestamp("s")), pa.string())  # "2025-03-01 12:34:56"
    cols["ts"] = pc.replace_substring(text, " ", "T")  # ISO 8601: "2025-03-01T12:34:56"
    logit = 0.08 * cols["f0"].to_numpy() - 0.05 * cols["f1"].to_numpy() - 1.0
    cols["label"] = pa.array((rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8))
    return pa.table(cols)


def generate_csv(path: Path, rows: int, seed: int) -> float:
    """Write ``rows`` rows to ``path`` chunk by chunk (constant memory); return the seconds.

    The file is written under another name and renamed when complete, so an
    interrupted run leaves no file that a rerun would take as cached.
    """
    import pyarrow.csv as pcsv

    start = time.perf_counter()
    partial = path.with_name(path.name + ".partial")
    options = pcsv.WriteOptions(quoting_style="none")  # no value holds a comma or a quote
    writer = None
    try:
        for index, first in enumerate(range(0, rows, GEN_CHUNK_ROWS)):
            table = _chunk(index, min(GEN_CHUNK_ROWS, rows - first), seed)
            if writer is None:
                writer = pcsv.CSVWriter(str(partial), table.schema, write_options=options)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    partial.rename(path)
    return time.perf_counter() - start


def disk_needed(workdir: Path, sizes: Sequence[int], seed: int) -> tuple[float, list[str]]:
    """Bytes to have free before starting: missing inputs, plus the largest output and slack.

    The outputs are deleted after each measurement, so only one exists at a
    time; a Parquet copy of this data is smaller than its CSV, so the largest
    input's size bounds it.
    """
    missing = [
        rows * EST_BYTES_PER_ROW for rows in sizes if not csv_path(workdir, rows, seed).exists()
    ]
    largest = max(rows * EST_BYTES_PER_ROW for rows in sizes)
    need = sum(missing) + largest + 1e9
    parts = [f"{len(missing)} input(s) to generate {sum(missing) / 1e9:.1f} GB"]
    parts.append(f"largest output up to {largest / 1e9:.1f} GB, 1 GB slack")
    return need, parts


def warm(path: Path) -> float:
    """Read ``path`` once so that every tool finds it in the page cache; return the MB/s."""
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while fh.read(16 << 20):
            pass
    return path.stat().st_size / MB / (time.perf_counter() - start)


# -- the workers (run as `python benchmarks/ingest.py --worker TOOL SRC OUT`) -----------


def _work_duckdb(src: Path, out: Path) -> dict[str, Any]:
    import duckdb

    def lit(p: Path) -> str:
        return "'" + str(p).replace("'", "''") + "'"

    con = duckdb.connect()  # the defaults: all cores, 80% of RAM, insertion order kept
    con.execute(
        f"COPY (SELECT * FROM read_csv({lit(src)})) TO {lit(out / 'duckdb.parquet')}"
        " (FORMAT parquet)"
    )
    con.close()
    return {"version": duckdb.__version__, "compression": "snappy (default)"}


def _work_polars(src: Path, out: Path) -> dict[str, Any]:
    import polars as pl

    pl.scan_csv(src).sink_parquet(out / "polars.parquet")
    return {"version": pl.__version__, "compression": "zstd (default)"}


def _work_pyarrow(src: Path, out: Path) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    read = pcsv.ReadOptions(block_size=PYARROW_BLOCK_BYTES)
    reader = pcsv.open_csv(src, read_options=read)
    with pq.ParquetWriter(out / "pyarrow.parquet", reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)  # one row group per batch
    return {"version": pa.__version__, "compression": "snappy (default)"}


def _work_shipyard(src: Path, out: Path, statistics: bool) -> dict[str, Any]:
    from shipyard.data import ingest

    result = ingest(
        {"path": str(src)}, out, root=out.parent, splits=SPLITS, seed=0, statistics=statistics
    )
    ds = result.dataset
    info: dict[str, Any] = {
        "compression": "zstd",
        "splits": {s: ds.num_rows(s) for s in ds.splits},
        "inside_s": round(result.seconds, 3),
    }
    if statistics:
        per_split = result.statistics.splits
        info["stats_columns"] = {s: len(per_split[s].columns) for s in per_split}
    return info


def warm_up(tool: str) -> None:
    """Import what ``tool`` imports, once, untimed: bytecode is then cached and files are hot."""
    if tool == "polars":
        import polars  # noqa: F401
    else:
        import duckdb  # noqa: F401
        import pyarrow.csv  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    if tool.startswith("shipyard"):
        import shipyard.data.ingest  # noqa: F401

        if tool == "shipyard":
            with contextlib.suppress(ModuleNotFoundError):  # the measured run says so
                import shipyard.validate.stats  # noqa: F401


def worker(argv: Sequence[str]) -> int:
    """Run one tool on one input; print one JSON line describing what it did."""
    if argv[1:] == ["--warm-up"]:
        warm_up(argv[0])
        return 0
    tool, src, out = argv[0], Path(argv[1]), Path(argv[2])
    start = time.perf_counter()
    if tool == "duckdb":
        info = _work_duckdb(src, out)
    elif tool == "polars":
        info = _work_polars(src, out)
    elif tool == "pyarrow":
        info = _work_pyarrow(src, out)
    elif tool in ("shipyard", "shipyard-nostats"):
        info = _work_shipyard(src, out, statistics=tool == "shipyard")
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    info["work_s"] = round(time.perf_counter() - start, 3)  # the tool's imports included
    print(json.dumps(info))
    return 0


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Result:
    """One tool on one input."""

    tool: str
    rows: int
    input_mb: float
    wall_s: float | None = None
    cpu_s: float | None = None
    rss_mb: float | None = None
    output_mb: float | None = None
    output_files: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    walls: list[float] = field(default_factory=list)  # every repetition, with --repeat
    rsss: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  # 1-minute load average before each run

    @property
    def mb_s(self) -> float | None:
        return None if self.wall_s is None else self.input_mb / self.wall_s

    @property
    def min_wall_s(self) -> float | None:
        return min(self.walls) if self.walls else self.wall_s


def combine(runs: list[Result]) -> Result:
    """The repetitions of one tool as one result: median wall and CPU, largest peak RSS."""
    failed = [r for r in runs if r.error is not None]
    if failed:
        return failed[0]
    first = runs[0]
    walls = [r.wall_s for r in runs if r.wall_s is not None]
    cpus = [r.cpu_s for r in runs if r.cpu_s is not None]
    rsss = [r.rss_mb for r in runs if r.rss_mb is not None]
    return Result(
        first.tool, first.rows, first.input_mb,
        wall_s=statistics.median(walls), cpu_s=statistics.median(cpus), rss_mb=max(rsss),
        output_mb=first.output_mb, output_files=first.output_files, info=first.info,
        walls=walls, rsss=rsss, loads=[x for r in runs for x in r.loads],
    )  # fmt: skip


# The process that starts each measured tool: fresh and small, because a child's
# ru_maxrss counts the memory of the process it was forked from until its exec
# (with vfork, the parent's high-water mark): started from this script, which
# holds pyarrow and the generator's buffers, every tool would show that much.
RUNNER = """
import json, resource, subprocess, sys, time
report, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
code = subprocess.call(cmd)
wall = time.perf_counter() - start
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(report, "w") as fh:
    json.dump({"code": code, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kib": ru.ru_maxrss}, fh)
"""


def run_measured(
    cmd: Sequence[str], cwd: Path, log: Path, env: dict[str, str]
) -> tuple[int, float, float, float]:
    """Run ``cmd`` under a fresh runner; return its exit code, wall s, CPU s and peak RSS in MB.

    The runner waits for the command and reads ``RUSAGE_CHILDREN``: the
    largest RSS of the command and of anything it waited for.
    """
    report = log.with_suffix(".rusage.json")
    runner = [sys.executable, "-I", "-S", "-c", RUNNER, str(report), *cmd]
    with open(log, "wb") as out:
        subprocess.run(runner, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    got = json.loads(report.read_text())
    report.unlink()
    return got["code"], got["wall"], got["cpu"], got["maxrss_kib"] * 1024 / MB  # KiB on Linux


def parquet_rows(folder: Path) -> tuple[int, int, float]:
    """Rows (from the footers), files and MB of the Parquet files under ``folder``."""
    import pyarrow.parquet as pq

    files = sorted(folder.rglob("*.parquet"))
    rows = sum(pq.read_metadata(f).num_rows for f in files)
    return rows, len(files), sum(f.stat().st_size for f in files) / MB


def measure(
    tool: str, python: Path, src: Path, rows: int, workdir: Path, env: dict[str, str]
) -> Result:
    """Time one tool on ``src``, check its output, then delete it."""
    res = Result(tool, rows, src.stat().st_size / MB, loads=[os.getloadavg()[0]])
    out = workdir / f"out-{tool}"
    log = workdir / f"log-{tool}-{rows}.txt"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", tool, str(src), str(out)]
    try:
        code, res.wall_s, res.cpu_s, res.rss_mb = run_measured(cmd, workdir, log, env)
        text = log.read_text(errors="replace")
        if code != 0:
            lines = [ln for ln in text.strip().splitlines() if ln.strip()]
            res.error = f"exit {code}: {lines[-1] if lines else 'no output'}"
            res.wall_s = res.cpu_s = res.rss_mb = None
            return res
        res.info = json.loads(text.strip().splitlines()[-1])
        got, res.output_files, res.output_mb = parquet_rows(out)
        if got != rows:
            res.error = f"wrote {got} rows, expected {rows}"
        splits = res.info.get("splits")
        if splits and sum(splits.values()) != rows:
            res.error = f"splits hold {sum(splits.values())} rows, expected {rows}"
    finally:
        shutil.rmtree(out, ignore_errors=True)
        os.sync()  # whatever the deletion did not cancel is on disk before the next tool
    if res.error is None:
        log.unlink(missing_ok=True)
    return res


def _installed_polars(python: Path) -> str | None:
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import polars; print(polars.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_venv_package(
    venv: Path, package: str, probe: Callable[[Path], str | None]
) -> tuple[Path, str, str]:
    """A throwaway virtualenv holding ``package``, reused when present.

    Returns its python, the package's version and a note on what was done.

    Raises
    ------
    RuntimeError
        When the virtualenv or the install fails, with pip's message.
    """
    python = venv / "bin" / "python"
    version = probe(python)
    if version is not None:
        return python, version, f"reused {venv}"
    if not python.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        made = subprocess.run(
            [base, "-m", "venv", str(venv)], capture_output=True, text=True, check=False
        )
        if made.returncode != 0:
            raise RuntimeError(f"cannot create {venv}: {made.stderr.strip()[-1000:]}")
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", package],
        capture_output=True,
        text=True,
        check=False,
    )
    version = probe(python)
    if proc.returncode != 0 or version is None:
        raise RuntimeError(f"pip install {package} failed: {proc.stderr.strip()[-1000:]}")
    return python, version, f"installed {package} in {venv}"


def shipyard_sources() -> dict[str, str]:
    """A hash of each of shipyard's Python files, found without importing the package.

    Others may edit the package while a long run goes on; comparing the hashes
    at the start and at the end says whether every tool ran the same code.
    """
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("shipyard")
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = Path(next(iter(spec.submodule_search_locations)))
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.rglob("*.py"))
    }


def fingerprint(sources: dict[str, str]) -> str | None:
    """One short hash of all the files' hashes."""
    import hashlib

    if not sources:
        return None
    text = "".join(f"{k}\0{v}\n" for k, v in sorted(sources.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def child_env(workdir: Path) -> dict[str, str]:
    """The environment of the measured processes: bytecode cached, as an installed package has it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


# -- the profile -------------------------------------------------------------------------


def _drain(reader: Any, each: Callable[[Any], None] | None = None) -> int:
    rows = 0
    for batch in reader:
        rows += batch.num_rows
        if each is not None:
            each(batch)
    return rows


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds (this process, every thread: DuckDB's too) of ``fn()``."""
    cpu, start = time.process_time(), time.perf_counter()
    value = fn()
    return time.perf_counter() - start, time.process_time() - cpu, value


def profile(
    src: Path, rows: int, workdir: Path, top: int, py_spy: bool, env: dict[str, str]
) -> dict[str, Any]:
    """Where Shipyard's ingest of ``src`` spends its time; prints as it goes, returns the figures."""
    import cProfile
    import pstats

    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from shipyard.data import ingest, resolve_source
    from shipyard.data.splits import split_expression

    figures: dict[str, Any] = {"rows": rows, "input_mb": round(src.stat().st_size / MB, 1)}
    res = resolve_source({"path": str(src)}, root=workdir)
    # Not `import shipyard.data.ingest as m`: the package's `ingest` attribute is the function.
    ingest_module = importlib.import_module("shipyard.data.ingest")
    batch_rows = int(getattr(ingest_module, "DEFAULT_BATCH_ROWS", 131_072))
    # The connection ingest opens (shipyard/data/ingest.py, _connect), rebuilt here.
    config: dict[str, Any] = {
        "threads": os.cpu_count() or 1,
        "memory_limit": str(getattr(ingest_module, "DEFAULT_MEMORY_LIMIT", "512MB")),
        "preserve_insertion_order": True,
    }
    figures["duckdb_config"] = config
    out = workdir / "out-profile"
    try:
        import shipyard.validate.stats  # noqa: F401

        have_stats = True
    except ModuleNotFoundError as exc:
        have_stats = False
        figures["statistics_error"] = str(exc)
    print(
        f"profile: {src} ({figures['input_mb']:.0f} MB, {rows:,} rows), in process; DuckDB"
        f" {config['threads']} threads, memory_limit {config['memory_limit']}, batches of"
        f" {batch_rows:,} rows asked, as ingest's defaults"
    )

    def duck() -> Any:
        con = duckdb.connect(config=config)
        con.execute("SET enable_progress_bar = false")
        return con

    con = duck()
    columns = [d[0] for d in con.sql(f"SELECT * FROM {res.sql} LIMIT 0").description]
    split_sql = split_expression(SPLITS, seed=0, key=None, columns=columns)
    relation = f"(SELECT * FROM {res.sql} AS src)"
    plain = f"SELECT * FROM {relation} AS t"
    with_split = f"SELECT t.*, {split_sql} AS __split FROM {relation} AS t"
    names = ("train", "eval", "test")

    def filtered(batch: Any) -> None:
        split_col = batch.column(batch.num_columns - 1)
        data = pa.RecordBatch.from_arrays(batch.columns[:-1], names=batch.schema.names[:-1])
        for n in names:
            data.filter(pc.equal(split_col, n))

    def run_ingest(statistics: bool) -> Any:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        return ingest(
            {"path": str(src)}, out, root=workdir, splits=SPLITS, seed=0, statistics=statistics
        )

    stages: list[tuple[str, str, Callable[[], Any]]] = [
        (
            "parse",
            "DuckDB read_csv -> Arrow batches, drained",
            lambda: _drain(con.sql(plain).to_arrow_reader(batch_rows)),
        ),
        (
            "parse+hash",
            "+ the split column (hash(t, seed) % 1e6, CASE)",
            lambda: _drain(con.sql(with_split).to_arrow_reader(batch_rows)),
        ),
        (
            "parse+hash+filter",
            "+ pc.equal and RecordBatch.filter per split",
            lambda: _drain(con.sql(with_split).to_arrow_reader(batch_rows), filtered),
        ),
        (
            "ingest, statistics=False",
            "+ zstd Parquet shards (the whole ingest)",
            lambda: run_ingest(False),
        ),
    ]
    if have_stats:
        stages.append(
            ("ingest, statistics=True", "+ statistics per split", lambda: run_ingest(True))
        )
    print()
    table = [["stage", "what it adds", "wall s", "CPU s", "added wall s"]]
    previous = 0.0
    figures["stages"] = {}
    layout: dict[str, Any] = {}
    for name, what, fn in stages:
        wall, cpu, _ = _timed(fn)
        if out.is_dir() and not layout:
            layout = _row_groups(out)
        shutil.rmtree(out, ignore_errors=True)
        table.append(
            [name, what, f"{wall:.1f}", f"{cpu:.1f}", f"{wall - previous:+.1f}" if previous else ""]
        )
        figures["stages"][name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
        previous = wall
        print(f"  {name}: {wall:.1f} s", flush=True)
    con.close()
    print()
    print_table(table)
    figures["row_groups"] = layout
    print()
    print(
        "shards written by ingest: "
        + "; ".join(
            f"{n} {v['files']} files, {v['row_groups']} row groups of {v['rows_per_group']:,.0f} rows"
            for n, v in layout.items()
        )
    )

    # cProfile of the whole call: the Python thread's time, by what _ingest calls.
    prof = cProfile.Profile()
    wall = time.perf_counter()
    prof.enable()
    run_ingest(have_stats)
    prof.disable()
    wall = time.perf_counter() - wall
    shutil.rmtree(out, ignore_errors=True)
    st = pstats.Stats(prof)
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    # The function that runs ingest's loop: _ingest today; the call itself if it is renamed.
    loop = [k for k in raw if k[0].endswith(os.path.join("data", "ingest.py"))]
    key = next((k for k in loop if k[2] == "_ingest"), None) or next(
        (k for k in loop if k[2] == "ingest"), None
    )
    if key is None:
        print("cProfile: no ingest function found in the profile; see the table by own time")
    else:
        _cprofile_children(raw, key, wall, have_stats, top, figures)
    print()
    print(f"top {top} functions by own time:")
    by_own = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    own_t = [["function", "calls", "own s", "cum s"]]
    for fn, (_, nc, tt, ct, _) in by_own:
        own_t.append([_short(_func_name(fn)), str(nc), f"{tt:.1f}", f"{ct:.1f}"])
    print_table(own_t)

    # Per column kind: statistics and Parquet writing of the split parts, as ingest gets
    # them (DuckDB's batches, filtered per split), on the first rows of the file.
    con = duck()
    parts_by_split: dict[str, list[Any]] = {n: [] for n in names}
    sample_rows = sample_batches = 0
    for batch in con.sql(with_split).to_arrow_reader(batch_rows):
        split_col = batch.column(batch.num_columns - 1)
        data = pa.RecordBatch.from_arrays(batch.columns[:-1], names=batch.schema.names[:-1])
        for n in names:
            part = data.filter(pc.equal(split_col, n))
            if part.num_rows:
                parts_by_split[n].append(part)
        sample_rows += batch.num_rows
        sample_batches += 1
        if sample_rows >= 2_000_000:
            break
    con.close()
    scale = rows / sample_rows
    schema = parts_by_split["train"][0].schema
    kinds = {
        "all (14 cols)": schema.names,
        "float (8 cols)": [f"f{i}" for i in range(8)],
        "int (2 cols)": ["i0", "i1"],
        "string (2 cols)": ["s0", "s1"],
        "timestamp (1 col)": ["ts"],
        "label int (1 col)": ["label"],
    }
    texts = [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    group_rows = 262_144

    def strings_only(cols: list[str]) -> list[str] | bool:
        return [c for c in cols if c in texts] or False

    # (options of ParquetWriter, rows per row group: None = one per part, as _ShardWriter)
    variants: dict[str, tuple[Callable[[list[str]], dict[str, Any]], int | None]] = {
        "zstd": (lambda cols: {"compression": "zstd"}, None),  # what _ShardWriter does
        "zstd, dict strings only": (
            lambda cols: {"compression": "zstd", "use_dictionary": strings_only(cols)},
            None,
        ),
        f"+ groups of {group_rows // 1024}k": (
            lambda cols: {"compression": "zstd", "use_dictionary": strings_only(cols)},
            group_rows,
        ),
        "snappy": (lambda cols: {"compression": "snappy"}, None),
    }

    def write_splits(
        selected: dict[str, list[Any]], options: dict[str, Any], group: int | None
    ) -> tuple[float, float]:
        """CPU seconds and bytes of writing each split's parts to its own file."""
        cpu = size = 0.0
        for n, parts in selected.items():
            if not parts:
                continue
            path = workdir / f"profile-{n}.parquet"
            start = time.process_time()  # CPU time: other load on the machine moves it less
            with pq.ParquetWriter(path, parts[0].schema, **options) as w:
                if group is None:
                    for p in parts:
                        w.write_batch(p)  # one row group per part, as _ShardWriter
                else:
                    pending: list[Any] = []
                    for p in parts:
                        pending.append(p)
                        if sum(x.num_rows for x in pending) >= group:
                            w.write_table(pa.Table.from_batches(pending))
                            pending = []
                    if pending:
                        w.write_table(pa.Table.from_batches(pending))
            cpu += time.process_time() - start
            size += path.stat().st_size
            path.unlink()
        return cpu, size

    per_kind: dict[str, Any] = {}
    kt = [["columns", "arrow types", "stats CPU s"]]
    for v in variants:
        kt[0] += [f"{v}: CPU s", "MB"]
    for kind, cols in kinds.items():
        selected = {n: [p.select(cols) for p in parts] for n, parts in parts_by_split.items()}
        types = (
            "(all)"
            if len(cols) == len(schema)
            else ", ".join(sorted({str(schema.field(c).type) for c in cols}))
        )
        stats_s: float | None = None
        if have_stats:
            from shipyard.validate.stats import DatasetStatistics

            start = time.process_time()
            for parts in selected.values():
                acc = DatasetStatistics()  # one per split, as ingest keeps them
                for p in parts:
                    acc.update(p)
            stats_s = (time.process_time() - start) * scale
        entry: dict[str, Any] = {"stats_cpu_s": None if stats_s is None else round(stats_s, 2)}
        row = [kind, types, "-" if stats_s is None else f"{stats_s:.1f}"]
        for v, (options, group) in variants.items():
            cpu, size = write_splits(selected, options(cols), group)
            entry[v] = {"write_cpu_s": round(cpu * scale, 2), "mb": round(size * scale / MB, 1)}
            row += [f"{cpu * scale:.1f}", f"{size * scale / MB:.0f}"]
        per_kind[kind] = entry
        kt.append(row)
    print()
    print(
        f"statistics and Parquet writing per column kind: the first {sample_rows:,} rows, as"
        f" {sample_batches} DuckDB batches (about {sample_rows / sample_batches:,.0f} rows each;"
        f" {batch_rows:,} asked) filtered per split; CPU seconds of one thread and MB, scaled to"
        f" the file ({scale:.1f}x):"
    )
    print_table(kt)
    figures["per_kind"] = per_kind
    figures["per_kind_sample_rows"] = sample_rows
    figures["duckdb_batch_rows_mean"] = round(sample_rows / sample_batches)

    if py_spy:
        figures["py_spy"] = run_py_spy(src, rows, workdir, env, top, have_stats)
    return figures


def _func_name(fn: tuple[str, int, str]) -> str:
    """A cProfile key as text: ``file:line(name)``, or ``{built-in}`` as cProfile names it."""
    file, line, name = fn
    return name if file == "~" else f"{file}:{line}({name})"


def _cprofile_children(
    raw: dict[Any, Any], key: Any, wall: float, have_stats: bool, top: int, figures: dict[str, Any]
) -> None:
    """Print and record what the profiled loop function calls, by cumulative time."""
    _, _, own, cum, _ = raw[key]
    children = []
    for fn, (_, _, _, _, callers) in raw.items():
        if key in callers:
            _, ncalls, _, ct = callers[key]
            children.append((ct, ncalls, _func_name(fn)))
    children.sort(reverse=True)
    print()
    print(
        f"cProfile of ingest(statistics={have_stats}): {wall:.1f} s wall under the profiler;"
        " the calling thread only (a writer thread's work shows as waits on it)"
    )
    name = key[2]
    rows_t = [[f"called from {name}", "calls", "cum s", f"% of {name}"]]
    rows_t.append(
        [
            f"({name} itself: `for batch in reader` waits on DuckDB here)",
            "1",
            f"{own:.1f}",
            f"{100 * own / cum:.0f}%",
        ]
    )
    for ct, ncalls, called in children[:top]:
        rows_t.append([_short(called), str(ncalls), f"{ct:.1f}", f"{100 * ct / cum:.0f}%"])
    print_table(rows_t)
    figures["cprofile"] = {
        "statistics": have_stats,
        "wall_s": round(wall, 2),
        "ingest_cum_s": round(cum, 2),
        "ingest_self_s": round(own, 2),
        "children": {_short(n): round(ct, 2) for ct, _, n in children[:top]},
    }


def _row_groups(folder: Path) -> dict[str, Any]:
    """Files, row groups and rows per row group of each split's shards under ``folder``."""
    import pyarrow.parquet as pq

    out: dict[str, Any] = {}
    for split in sorted(p for p in folder.iterdir() if p.is_dir()):
        metas = [pq.read_metadata(f) for f in sorted(split.glob("*.parquet"))]
        groups = sum(m.num_row_groups for m in metas)
        rows = sum(m.num_rows for m in metas)
        out[split.name] = {
            "files": len(metas),
            "row_groups": groups,
            "rows_per_group": round(rows / groups) if groups else 0,
        }
    return out


def _short(name: str) -> str:
    for marker in (
        "/site-packages/",
        "/work/main/",
        str(Path(__file__).resolve().parents[1]) + "/",
    ):
        if marker in name:
            name = name.split(marker, 1)[1]
    return name if len(name) <= 90 else name[:87] + "..."


def run_py_spy(
    src: Path, rows: int, workdir: Path, env: dict[str, str], top: int, stats: bool
) -> dict[str, Any]:
    """Sample the Python thread of an ingest worker with py-spy (native frames, idle included)."""

    def probe(python: Path) -> str | None:
        spy = python.with_name("py-spy")
        if not spy.exists():
            return None
        proc = subprocess.run([str(spy), "--version"], capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    try:
        python, version, note = ensure_venv_package(POLARS_VENV, "py-spy", probe)
    except (RuntimeError, OSError) as exc:
        print(f"py-spy skipped: {exc}")
        return {"error": str(exc).splitlines()[0]}
    spy = python.with_name("py-spy")
    out = workdir / "out-pyspy"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    raw = workdir / "py-spy.txt"
    tool = "shipyard" if stats else "shipyard-nostats"
    cmd = [
        str(spy), "record", "--native", "--rate", "50", "--format", "raw",
        "--output", str(raw), "--", sys.executable, str(Path(__file__).resolve()),
        "--worker", tool, str(src), str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0 or not raw.exists():
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        print(f"py-spy failed: {msg[-1] if msg else proc.returncode}")
        return {"error": msg[-1] if msg else str(proc.returncode), "version": version}
    # Collapsed stacks: "frame;frame;...;leaf count". Attribute each sample to the
    # innermost frame of a known library, so that the table reads by component.
    leaves: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaves[_component(frames)] = leaves.get(_component(frames), 0) + n
    raw.unlink()
    print()
    print(
        f"py-spy {version} ({note}): {total} on-CPU samples of the worker's Python threads"
        " (DuckDB's own threads are not sampled), by the innermost recognised Python frame"
    )
    tbl = [["component (innermost recognised frame)", "samples", "%"]]
    ranked = sorted(leaves.items(), key=lambda kv: kv[1], reverse=True)[:top]
    for name, n in ranked:
        tbl.append([name, str(n), f"{100 * n / total:.0f}%"])
    print_table(tbl)
    return {
        "version": version,
        "samples": total,
        "components": {k: round(v / total, 3) for k, v in ranked},
    }


_COMPONENTS = (  # (marker in the innermost Python frame, label), first match wins
    ("shipyard/validate/", "statistics"),
    ("pyarrow/parquet/", "Parquet writing"),
    ("_write_parts (", "Parquet writing"),
    ("write (shipyard/data/ingest.py", "Parquet writing"),
    ("close (shipyard/data/ingest.py", "Parquet writing"),
    ("pyarrow/compute.py", "filtering (pc.equal, RecordBatch.filter)"),
    ("<dictcomp> (shipyard/data/ingest.py", "filtering (pc.equal, RecordBatch.filter)"),
    ("concurrent/futures/", "thread pool"),
    ("threading.py", "thread pool"),
    ("duckdb/", "DuckDB (reader)"),
    ("_ingest (shipyard/data/ingest.py", "ingest's loop (batches from DuckDB, slicing)"),
    ("<frozen importlib", "imports"),
)


def _component(frames: list[str]) -> str:
    """What a sampled stack is doing: its innermost recognised Python frame.

    Native frames are skipped, and so are frames of no known component (NumPy
    called by the statistics counts as statistics); with none recognised, the
    innermost Python frame names itself.
    """
    python = [f for f in frames if ".py:" in f or "<frozen" in f]
    for frame in reversed(python):
        if "shipyard/validate/" in frame:
            return "statistics: " + frame.split("shipyard/validate/", 1)[1].split(":")[0]
        for marker, label in _COMPONENTS:
            if marker in frame:
                return label
    return _short(python[-1] if python else (frames[-1] if frames else "?"))


# -- report ------------------------------------------------------------------------------


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    numeric = [all(_numberish(r[i]) for r in rows[1:]) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if num and n else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _numberish(text: str) -> bool:
    return text in ("", "-") or text.rstrip("x%").replace(".", "", 1).lstrip("+-").isdigit()


def _f(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def size_table(results: list[Result]) -> None:
    by = {r.tool: r for r in results}
    ship = [by[t] for t in ("shipyard", "shipyard-nostats") if t in by and by[t].mb_s]
    header = ["tool", "wall s", "min s", "MB/s", "peak RSS MB", "CPU s", "out MB", "files"]
    header += [f"{s.tool} / tool" for s in ship]
    rows = [header]
    for r in results:
        if r.error is not None:
            rows.append([r.tool, *["-"] * 7, *["-" for _ in ship]])
            continue
        ratios = [f"{s.mb_s / r.mb_s:.2f}x" if s.mb_s and r.mb_s else "-" for s in ship]
        rows.append([
            r.tool, _f(r.wall_s), _f(r.min_wall_s), _f(r.mb_s, 0), _f(r.rss_mb, 0), _f(r.cpu_s),
            _f(r.output_mb, 0), str(r.output_files), *ratios,
        ])  # fmt: skip
    print_table(rows)
    for r in results:
        if r.error is not None:
            print(f"  {r.tool}: not measured: {r.error}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        return worker(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        help=f"rows of the first file (default {DEFAULT_ROWS:,}); the second has twice as many",
    )
    parser.add_argument(
        "--small", action="store_true", help=f"{SMALL_ROWS:,} rows (and twice that): a quick check"
    )
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=WORKDIR,
        help=f"inputs (cached) and outputs; default {WORKDIR}",
    )
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each tool per size, round robin (default 1)"
    )
    parser.add_argument("--no-double", action="store_true", help="measure the first size only")
    parser.add_argument(
        "--polars-venv", type=Path, default=POLARS_VENV, help=f"default {POLARS_VENV}"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile Shipyard's ingest of the first file instead"
    )
    parser.add_argument(
        "--py-spy",
        action="store_true",
        help="with --profile: also sample with py-spy (installed in the polars venv)",
    )
    parser.add_argument(
        "--top", type=int, default=15, help="rows of the profile's tables (default 15)"
    )
    parser.add_argument(
        "--clean", action="store_true", help="delete the generated inputs at the end"
    )
    args = parser.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools {unknown}; known: {', '.join(TOOLS)}")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.rows is not None and args.small:
        parser.error("--rows and --small do not go together")
    base_rows = args.rows or (SMALL_ROWS if args.small else DEFAULT_ROWS)
    sizes = [base_rows] if args.no_double or args.profile else [base_rows, 2 * base_rows]
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    need, parts = disk_needed(workdir, sizes, args.seed)
    free = shutil.disk_usage(workdir).free
    print(
        f"ingest: {', '.join(f'{r:,}' for r in sizes)} rows; workdir {workdir}"
        f" ({free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed: {'; '.join(parts)})"
    )
    if free < need:
        print(
            f"error: {workdir} has {free / 1e9:.1f} GB free, fewer than the {need / 1e9:.1f} GB"
            " this run needs; pass --workdir on a larger disk, --small, or a smaller --rows",
            file=sys.stderr,
        )
        return 2
    load_before = os.getloadavg()[0]
    files_before = shipyard_sources()
    sources_before = fingerprint(files_before)
    print(
        f"  shipyard sources {sources_before} (sha256 of its .py files), load average {load_before:.2f}"
    )
    env = child_env(workdir)
    inputs: dict[int, Path] = {}
    generated: dict[int, float] = {}
    for rows in sizes:
        path = csv_path(workdir, rows, args.seed)
        if path.exists():
            print(f"  {path.name}: cached, {path.stat().st_size / 1e9:.2f} GB")
        else:
            print(f"  {path.name}: generating ...", flush=True)
            generated[rows] = generate_csv(path, rows, args.seed)
            print(f"  {path.name}: {path.stat().st_size / 1e9:.2f} GB in {generated[rows]:.0f} s")
        inputs[rows] = path

    if args.profile:
        found = profile(inputs[base_rows], base_rows, workdir, args.top, args.py_spy, env)
        head: dict[str, Any] = {"benchmark": "ingest-profile", "date": time.strftime("%Y-%m-%d")}
        head.update({"cpus": os.cpu_count(), "load_avg_before": round(load_before, 2)})
        head["shipyard_sources"] = sources_before
        print(json.dumps({**head, **found}))
        return 0

    pythons = {t: Path(sys.executable) for t in tools}
    polars_version: str | None = None
    polars_error: str | None = None
    if "polars" in tools:
        try:
            pythons["polars"], polars_version, note = ensure_venv_package(
                args.polars_venv, "polars", _installed_polars
            )
            print(f"  polars {polars_version}: {note}")
        except (RuntimeError, OSError) as exc:
            polars_error = str(exc)
            print(f"  polars skipped: {polars_error}")
            tools.remove("polars")

    for tool in tools:  # untimed: the first run of a process would also compile bytecode
        script = str(Path(__file__).resolve())
        cmd = [str(pythons[tool]), script, "--worker", tool, "--warm-up"]
        subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, check=False)
    all_results: dict[int, list[Result]] = {}
    for rows in sizes:
        src = inputs[rows]
        print(
            f"\n{src.name}: {src.stat().st_size / MB:,.0f} MB, {rows:,} rows; page cache warmed at {warm(src):,.0f} MB/s"
        )
        runs: dict[str, list[Result]] = {t: [] for t in tools}
        for rep in range(args.repeat):  # round robin: drift in the load hits every tool alike
            for tool in tools:
                r = measure(tool, pythons[tool], src, rows, workdir, env)
                runs[tool].append(r)
                status = (
                    r.error or f"{r.wall_s:.1f} s, {r.mb_s:.0f} MB/s, peak RSS {r.rss_mb:.0f} MB"
                )
                rep_text = f" ({rep + 1}/{args.repeat})" if args.repeat > 1 else ""
                print(f"  {tool}{rep_text}: {status}", flush=True)
        all_results[rows] = [combine(runs[t]) for t in tools]
    if args.clean:
        for path in inputs.values():
            path.unlink(missing_ok=True)
    load_after = os.getloadavg()[0]
    files_after = shipyard_sources()
    sources_after = fingerprint(files_after)

    # -- the report
    goals: list[tuple[str, bool | None, str]] = []
    figures: dict[str, Any] = {
        "benchmark": "ingest",
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_before": round(load_before, 2),
        "load_avg_after": round(load_after, 2),
        "seed": args.seed,
        "repeat": args.repeat,
        "shipyard_sources": sources_before,
        "shipyard_sources_after": sources_after,
        "shipyard_files_changed": changed(files_before, files_after),
        "polars_version": polars_version,
        "polars_error": polars_error.splitlines()[0] if polars_error else None,
        "sizes": {},
    }
    for rows, results in all_results.items():
        mb = results[0].input_mb
        print(
            f"\n{rows:,} rows, {mb:,.0f} MB of CSV (MB = 10^6 bytes; ratio = Shipyard's MB/s over the tool's)"
        )
        if args.repeat > 1:
            print(
                f"median of {args.repeat} runs (min s: the fastest); peak RSS: the largest of them"
            )
        size_table(results)
        loads = [x for r in results for x in r.loads]
        if loads:
            print(f"load average before the runs: {min(loads):.2f} to {max(loads):.2f}")
        by = {r.tool: r for r in results}
        refs = [by[t] for t in REFERENCES if t in by and by[t].mb_s]
        fastest = max(refs, key=lambda r: r.mb_s or 0.0) if refs else None
        entry: dict[str, Any] = {
            "rows": rows,
            "input_mb": round(mb, 1),
            "generate_s": round(generated[rows], 1) if rows in generated else None,
        }
        for r in results:
            entry[r.tool] = {
                "wall_s": None if r.wall_s is None else round(r.wall_s, 2),
                "walls_s": [round(w, 2) for w in r.walls],
                "rss_mbs": [round(x, 1) for x in r.rsss],
                "load_before": [round(x, 2) for x in r.loads],
                "mb_s": None if r.mb_s is None else round(r.mb_s, 1),
                "rss_mb": None if r.rss_mb is None else round(r.rss_mb, 1),
                "cpu_s": None if r.cpu_s is None else round(r.cpu_s, 2),
                "output_mb": None if r.output_mb is None else round(r.output_mb, 1),
                "output_files": r.output_files,
                "error": r.error,
                **{
                    k: v
                    for k, v in r.info.items()
                    if k in ("version", "splits", "inside_s", "work_s")
                },
            }
        entry["fastest_reference"] = fastest.tool if fastest else None
        for tool in ("shipyard", "shipyard-nostats"):
            s = by.get(tool)
            if s is None:
                continue
            label = f"{tool} @ {rows:,} rows"
            if s.mb_s is None:
                goals.append(
                    (
                        f"{label}: throughput >= {GOAL_THROUGHPUT_RATIO}x fastest reference",
                        None,
                        f"not measured: {s.error}",
                    )
                )
                goals.append((f"{label}: peak RSS < {GOAL_RSS_MB:.0f} MB", None, "not measured"))
                continue
            if fastest is not None and fastest.mb_s:
                ratio = s.mb_s / fastest.mb_s
                entry[tool]["ratio_to_fastest"] = round(ratio, 3)
                goals.append((
                    f"{label}: throughput >= {GOAL_THROUGHPUT_RATIO}x fastest reference",
                    ratio >= GOAL_THROUGHPUT_RATIO,
                    f"{ratio:.2f}x {fastest.tool} ({s.mb_s:.0f} vs {fastest.mb_s:.0f} MB/s)",
                ))  # fmt: skip
            assert s.rss_mb is not None
            goals.append(
                (
                    f"{label}: peak RSS < {GOAL_RSS_MB:.0f} MB",
                    s.rss_mb < GOAL_RSS_MB,
                    f"{s.rss_mb:.0f} MB",
                )
            )
        figures["sizes"][str(rows)] = entry
    if len(sizes) == 2:
        small, large = ({r.tool: r for r in all_results[n]} for n in sizes)
        print()
        for tool in [t for t in tools if t in small and t in large]:
            a, b = small[tool].rss_mb, large[tool].rss_mb
            if a and b:
                growth = b / a - 1
                figures.setdefault("rss_growth", {})[tool] = round(growth, 4)
                print(
                    f"peak RSS when the input doubles, {tool}: {a:.0f} -> {b:.0f} MB ({growth:+.1%})"
                )
        for tool in ("shipyard", "shipyard-nostats"):
            growth = figures.get("rss_growth", {}).get(tool)
            if tool in tools:
                goals.append((
                    f"{tool}: peak RSS grows < {GOAL_RSS_GROWTH:.0%} when the input doubles",
                    None if growth is None else growth < GOAL_RSS_GROWTH,
                    "not measured" if growth is None else f"{growth:+.1%}",
                ))  # fmt: skip
    print(
        "\ngoals (the issue's goals are for `shipyard`, statistics on; `shipyard-nostats` for comparison)"
    )
    gt = [["goal", "measured", ""]]
    for text, met, measured in goals:
        gt.append([text, measured, "met" if met else ("MISSED" if met is False else "-")])
    print_table(gt)
    for text, met, measured in goals:
        if met is False:
            print(f"MISSED: {text}: {measured}")
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(
            f"note: load average {load_before:.2f} at the start: other work shared the CPUs,"
            " so the wall times are pessimistic (the CPU times less so)"
        )
    if sources_after != sources_before:
        print(
            f"note: shipyard's sources changed during the run ({sources_before} ->"
            f" {sources_after}: {', '.join(changed(files_before, files_after))}):"
            " the shipyard runs may not all have run the same code"
        )
    figures["goals"] = [{"goal": t, "met": m, "measured": v} for t, m, v in goals]
    figures["goal_throughput_ratio"] = GOAL_THROUGHPUT_RATIO
    figures["goal_rss_mb"] = GOAL_RSS_MB
    figures["goal_rss_growth"] = GOAL_RSS_GROWTH
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
