"""Engine overhead of a chain of 20 trivial steps, against plain calls and Metaflow.

The script writes a pipeline of ``--steps`` steps (``s01`` ... ``s20``, each
``return x + 1``) into a fresh temporary project, with a twin module of the
same functions undecorated, and times whole processes:

- ``direct``: ``python -c`` importing the plain twin and calling the chain;
- ``first run``: ``shipyard run chain.py:chain`` on an empty store;
- ``cached re-run``: the same command again, every step a cache hit.

Overhead per step is ``(first run - direct) / steps``. It also times
``shipyard.run`` inside this process, which leaves out interpreter start-up
and imports, and, with ``--metaflow``, the same chain as a Metaflow
``FlowSpec`` run by Metaflow's local runtime (installed in a throwaway
virtualenv outside the repository, never a dependency of the project).

It is a measurement, not a test: it exits 0 when a goal is missed and says
MISSED. The last line of the output is one JSON object with every figure.

Usage::

    .venv/bin/python benchmarks/pipeline_overhead.py [--repeat 5] [--metaflow]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _report import print_table

GOAL_OVERHEAD_MS = 30.0  # engine overhead per step, first run on an empty store
GOAL_CACHED_S = 1.0  # whole `shipyard run` process when every step is cached
METAFLOW_PIN = "metaflow==2.19.*"  # the version the figures come from
METAFLOW_VENV = Path(tempfile.gettempdir()) / "bench-venvs" / "metaflow"
MODULE = "chain"  # the generated pipeline module; also the pipeline's name
PLAIN_MODULE = "chain_plain"


# -- the generated code ------------------------------------------------------------------


def _name(i: int) -> str:
    return f"s{i:02d}"


def _nested_call(steps: int, prefix: str = "") -> str:
    expr = "x"
    for i in range(1, steps + 1):
        expr = f"{prefix}{_name(i)}({expr})"
    return expr


def pipeline_source(steps: int) -> str:
    """The Shipyard pipeline: ``steps`` ``@step`` functions chained by ``@pipeline``."""
    lines = ["from shipyard import pipeline, step", ""]
    for i in range(1, steps + 1):
        lines += ["", "@step", f"def {_name(i)}(x: int) -> int:", "    return x + 1", ""]
    lines += ["", "@pipeline", f"def {MODULE}(x: int = 0):", f"    {_nested_call(steps)}", ""]
    return "\n".join(lines)


def plain_source(steps: int) -> str:
    """The same functions without Shipyard, so that the baseline imports no framework."""
    lines = []
    for i in range(1, steps + 1):
        lines += [f"def {_name(i)}(x: int) -> int:", "    return x + 1", "", ""]
    return "\n".join(lines)


def direct_code(steps: int) -> str:
    """``python -c`` code calling the plain twin in a chain and printing the result."""
    return f"import {PLAIN_MODULE} as m\nx = 0\nprint({_nested_call(steps, 'm.')})\n"


def metaflow_source(steps: int) -> str:
    """The chain as a FlowSpec with ``steps`` steps, each adding 1 to ``self.x``.

    Metaflow requires a ``start`` and an ``end`` step; they do the work of the
    first and last function, so the flow has as many steps as the pipeline.
    """
    names = ["start", *(_name(i) for i in range(2, steps)), "end"]
    lines = ["from metaflow import FlowSpec, step", "", "", "class ChainFlow(FlowSpec):"]
    for i, name in enumerate(names):
        lines += ["    @step", f"    def {name}(self):"]
        lines.append("        self.x = 1" if i == 0 else "        self.x = self.x + 1")
        if name == "end":
            lines.append('        print(f"x={self.x}")')
        else:
            lines.append(f"        self.next(self.{names[i + 1]})")
        lines.append("")
    lines += ["", 'if __name__ == "__main__":', "    ChainFlow()", ""]
    return "\n".join(lines)


def write_project(folder: Path, steps: int) -> None:
    """A project folder holding the pipeline, its plain twin and a minimal shipyard.yaml."""
    (folder / f"{MODULE}.py").write_text(pipeline_source(steps))
    (folder / f"{PLAIN_MODULE}.py").write_text(plain_source(steps))
    # Pins the project root here: without it, a stray .shipyard/ in a parent
    # folder (say /tmp/.shipyard) would become the project and hold the store.
    (folder / "shipyard.yaml").write_text("project:\n  name: pipeline-overhead\n")


# -- timing ------------------------------------------------------------------------------


class Samples:
    """Repeated timings of one figure, in seconds."""

    def __init__(self, values: Sequence[float] = ()) -> None:
        self.values = list(values)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)


def timed(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd`` as a whole process; return its wall time, CPU time and stdout.

    The CPU time (user + system, of the process and every child it waited
    for) moves less than the wall time when other work shares the machine.

    Raises
    ------
    RuntimeError
        When the command fails, with its output.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
        )
    return elapsed, cpu, proc.stdout


def child_env(folder: Path) -> dict[str, str]:
    """The environment of every timed process.

    The store must be the temporary project's own, whatever the caller's shell
    says. Bytecode is cached under ``folder``: with PYTHONDONTWRITEBYTECODE (set
    in some sandboxes and CI images) an editable install would recompile its
    modules in every process, which no installed package does.
    """
    drop = {"SHIPYARD_STORE_URL", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    return env


def check_shipyard_run(stdout: str, steps: int, cached: bool) -> None:
    """Fail loudly when a run did not do what is being timed (all ran, or all cached)."""
    summary = json.loads(stdout)
    hits = sum(bool(s["cache_hit"]) for s in summary["steps"])
    expected = steps if cached else 0
    if summary["status"] != "succeeded" or len(summary["steps"]) != steps or hits != expected:
        raise RuntimeError(
            f"expected a succeeded run of {steps} steps with {expected} cache hits;"
            f" got status {summary['status']!r}, {len(summary['steps'])} steps, {hits} hits"
        )


def measure_processes(
    shipyard: str, project: Path, steps: int, repeat: int, env: dict[str, str]
) -> dict[str, Samples]:
    """Time direct calls, first runs and cached re-runs, interleaved so drift hits all three."""
    direct_cmd = [sys.executable, "-c", direct_code(steps)]
    run_cmd = [shipyard, "run", f"{MODULE}.py:{MODULE}", "--json"]
    store = project / ".shipyard"
    names = ("direct", "first_run", "cached_rerun")
    out = {n: Samples() for n in (*names, *(f"{n}_cpu" for n in names))}

    def record(name: str, cmd: list[str]) -> str:
        elapsed, cpu, stdout = timed(cmd, project, env)
        out[name].add(elapsed)
        out[f"{name}_cpu"].add(cpu)
        return stdout

    # One untimed round writes __pycache__ for the generated modules and warms
    # the file cache, which every later repetition then finds alike.
    timed(direct_cmd, project, env)
    shutil.rmtree(store, ignore_errors=True)
    timed(run_cmd, project, env)
    for _ in range(repeat):
        stdout = record("direct", direct_cmd)
        if stdout.strip() != str(steps):
            raise RuntimeError(f"direct calls printed {stdout.strip()!r}, expected {steps}")
        shutil.rmtree(store, ignore_errors=True)
        check_shipyard_run(record("first_run", run_cmd), steps, cached=False)
        check_shipyard_run(record("cached_rerun", run_cmd), steps, cached=True)
    return out


def measure_in_process(project: Path, steps: int, repeat: int) -> dict[str, Samples]:
    """Time ``shipyard.run`` in this process: the engine without start-up and imports.

    Each run opens a new :class:`Project`, as a new process would; what stays
    warm is what a long-lived process keeps (imported modules, cached
    environment snapshot).
    """
    import shipyard

    sys.path.insert(0, str(project))
    try:
        module = importlib.import_module(MODULE)
    finally:
        sys.path.remove(str(project))
    pipe = getattr(module, MODULE)
    fns: list[Callable[[int], int]] = [getattr(module, _name(i)).fn for i in range(1, steps + 1)]
    store = project / ".shipyard"

    def one_run() -> float:
        start = time.perf_counter()
        proj = shipyard.Project.discover(project)
        result = shipyard.run(pipe, project=proj)
        elapsed = time.perf_counter() - start
        if result[_name(steps)] != steps:
            raise RuntimeError(f"in-process run gave {result[_name(steps)]!r}, expected {steps}")
        proj.close()
        return elapsed

    def direct() -> float:
        start = time.perf_counter()
        x = 0
        for fn in fns:
            x = fn(x)
        return time.perf_counter() - start

    out = {"direct": Samples(), "first_run": Samples(), "cached_rerun": Samples()}
    shutil.rmtree(store, ignore_errors=True)
    one_run()  # imports the store, the executor and the migrations once, untimed
    for _ in range(repeat):
        out["direct"].add(direct())
        shutil.rmtree(store, ignore_errors=True)
        out["first_run"].add(one_run())
        out["cached_rerun"].add(one_run())
    return out


# -- Metaflow ----------------------------------------------------------------------------


def _installed_metaflow(python: Path) -> str | None:
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('metaflow'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_metaflow(venv: Path) -> tuple[Path, str, str]:
    """A virtualenv with Metaflow, reused when present; return its python, version and a note.

    Raises
    ------
    RuntimeError
        When the virtualenv or the install fails, with pip's message.
    """
    python = venv / "bin" / "python"
    version = _installed_metaflow(python)
    if version is not None:
        return python, version, f"reused {venv}"
    # The virtualenv is built from this interpreter's base Python, so that the
    # direct-call baseline and Metaflow run the same Python version.
    base = getattr(sys, "_base_executable", sys.executable)
    made = subprocess.run(
        [base, "-m", "venv", str(venv)], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        raise RuntimeError(f"cannot create {venv}: {made.stderr.strip()[-1000:]}")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    note = f"installed {METAFLOW_PIN} in {venv}"
    proc = subprocess.run([*pip, METAFLOW_PIN], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pinned_error = proc.stderr.strip()[-300:]
        proc = subprocess.run([*pip, "metaflow"], capture_output=True, text=True, check=False)
        note = f"{METAFLOW_PIN} did not install ({pinned_error}); installed the latest in {venv}"
    version = _installed_metaflow(python)
    if proc.returncode != 0 or version is None:
        raise RuntimeError(f"pip install metaflow failed: {proc.stderr.strip()[-1000:]}")
    return python, version, note


def measure_metaflow(
    python: Path, folder: Path, steps: int, repeat: int, base_env: dict[str, str]
) -> Samples:
    """Time ``python flow.py run`` with Metaflow's home and local datastore in ``folder``."""
    (folder / "flow.py").write_text(metaflow_source(steps))
    home, sysroot = folder / "metaflow-home", folder / "metaflow-data"
    home.mkdir(exist_ok=True)
    env = {
        **base_env,
        "METAFLOW_HOME": str(home),
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(sysroot),
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_USER": os.environ.get("USER") or "bench",  # Metaflow refuses to run without one
    }
    # --no-pylint: Metaflow lints the flow file with pylint when pylint is installed;
    # the lint is not engine overhead, and its presence would vary between machines.
    cmd = [str(python), "flow.py", "--no-pylint", "run"]
    samples = Samples()
    for i in range(repeat + 1):  # the first round is an untimed warm-up, as for Shipyard
        shutil.rmtree(sysroot, ignore_errors=True)
        sysroot.mkdir()
        elapsed, _, stdout = timed(cmd, folder, env)
        if f"x={steps}" not in stdout:
            raise RuntimeError(f"the flow did not print x={steps}:\n{stdout[-2000:]}")
        if i:
            samples.add(elapsed)
    return samples


# -- report ------------------------------------------------------------------------------


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds * 1000:.0f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


def _cell(samples: Samples | None, fmt: Callable[[float], str]) -> str:
    return "-" if samples is None else f"{fmt(samples.median)} ({fmt(samples.min)})"


def _ratio(a: Samples | None, b: Samples | None) -> str:
    if a is None or b is None or b.median <= 0:
        return "-"
    return f"{a.median / b.median:.2f}x"


def per_step(run: Samples, base: Samples, steps: int) -> Samples:
    """Overhead per step of each repetition, paired with the baseline of the same repetition."""
    return Samples([(r - b) / steps for r, b in zip(run.values, base.values, strict=True)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--steps", type=int, default=20, help="steps in the chain (default 20)")
    parser.add_argument("--metaflow", action="store_true", help="also time Metaflow")
    parser.add_argument(
        "--metaflow-venv", type=Path, default=METAFLOW_VENV, help=f"default {METAFLOW_VENV}"
    )
    parser.add_argument("--shipyard", help="the shipyard command (default: next to this python)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project folder")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.steps < 2:
        parser.error("--repeat must be >= 1 and --steps >= 2")
    shipyard = args.shipyard or str(Path(sys.executable).with_name("shipyard"))
    if not Path(shipyard).exists():
        shipyard = shutil.which("shipyard") or parser.error("no shipyard command; pass --shipyard")
    steps, repeat = args.steps, args.repeat
    folder = Path(tempfile.mkdtemp(prefix="shipyard-bench-"))
    env = child_env(folder)
    load_before = os.getloadavg()[0]
    try:
        project = folder / "project"
        project.mkdir()
        write_project(project, steps)
        print(f"pipeline_overhead: {steps} trivial steps in a chain, {repeat} repetitions")
        print(f"  project {project}, shipyard {shipyard}")
        proc = measure_processes(shipyard, project, steps, repeat, env)
        inproc = measure_in_process(project, steps, repeat)
        mf: Samples | None = None
        mf_version: str | None = None
        mf_error: str | None = None
        if args.metaflow:
            try:
                python, mf_version, note = ensure_metaflow(args.metaflow_venv)
                print(f"  metaflow {mf_version}: {note}")
                mf_folder = folder / "metaflow"
                mf_folder.mkdir()
                mf = measure_metaflow(python, mf_folder, steps, repeat, env)
            except (RuntimeError, OSError) as exc:
                mf_error = str(exc)
                print(f"  metaflow skipped: {mf_error}")
    finally:
        if args.keep:
            print(f"  kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    load_after = os.getloadavg()[0]
    overhead = per_step(proc["first_run"], proc["direct"], steps)
    in_overhead = per_step(inproc["first_run"], inproc["direct"], steps)
    mf_overhead = per_step(mf, proc["direct"], steps) if mf is not None else None
    overhead_met = overhead.median * 1000 <= GOAL_OVERHEAD_MS
    cached_met = proc["cached_rerun"].median < GOAL_CACHED_S

    def status(met: bool) -> str:
        return "met" if met else "MISSED"

    def row(figure: str, *cells: str) -> list[str]:
        return [figure, *cells, *([""] * (7 - len(cells)))]

    mf_title = f"metaflow {mf_version}" if mf is not None else "metaflow"
    first, cached, direct = proc["first_run"], proc["cached_rerun"], proc["direct"]
    print()
    print("median (min) of each figure; ratios of medians")
    print_table(
        [
            row("figure", "shipyard", "direct calls", mf_title, "vs direct", "vs metaflow", "goal"),
            row(
                "whole process, empty store",
                _cell(first, _s),
                _cell(direct, _s),
                _cell(mf, _s),
                _ratio(first, direct),
                _ratio(first, mf),
            ),
            row(
                "  overhead per step",
                _cell(overhead, _ms),
                "",
                _cell(mf_overhead, _ms),
                "",
                _ratio(overhead, mf_overhead),
                f"<= {GOAL_OVERHEAD_MS:g} ms",
                status(overhead_met),
            ),
            row(
                "whole process, fully cached",
                _cell(cached, _s),
                _cell(direct, _s),
                "no step cache" if mf is not None else "-",
                _ratio(cached, direct),
                "",
                f"< {GOAL_CACHED_S:g} s",
                status(cached_met),
            ),
            row(
                "in process, empty store",
                _cell(inproc["first_run"], _s),
                _cell(inproc["direct"], _us),
            ),
            row("  overhead per step", _cell(in_overhead, _ms)),
            row(
                "in process, fully cached",
                _cell(inproc["cached_rerun"], _s),
                _cell(inproc["direct"], _us),
            ),
        ]
    )
    print()
    print(
        f"start-up and imports: {_s(first.median - inproc['first_run'].median)} of a first run"
        f" and {_s(cached.median - inproc['cached_rerun'].median)} of a cached re-run"
        " (whole process minus in process)"
    )
    print(
        f"CPU time (user + system) of the processes: direct {_s(proc['direct_cpu'].median)},"
        f" first run {_s(proc['first_run_cpu'].median)},"
        f" cached re-run {_s(proc['cached_rerun_cpu'].median)}"
    )
    if not overhead_met:
        print(f"MISSED: overhead per step {_ms(overhead.median)} > goal {GOAL_OVERHEAD_MS:g} ms")
    if not cached_met:
        print(f"MISSED: cached re-run {_s(cached.median)} >= goal {GOAL_CACHED_S:g} s")
    if mf_error is not None:
        print(f"metaflow not measured: {mf_error.splitlines()[0]}")
    # Only the load before counts: the benchmark's own processes raise the one after.
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(
            f"note: load average {load_before:.2f} at the start: other work shared the CPUs,"
            " so the wall times are pessimistic (the CPU times less so)"
        )

    def r(x: float | None, digits: int = 4) -> float | None:
        return None if x is None else round(x, digits)

    figures: dict[str, Any] = {
        "benchmark": "pipeline_overhead",
        "steps": steps,
        "repeat": repeat,
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_before": round(load_before, 2),
        "load_avg_after": round(load_after, 2),
        "direct_s": r(proc["direct"].median),
        "direct_min_s": r(proc["direct"].min),
        "first_run_s": r(proc["first_run"].median),
        "first_run_min_s": r(proc["first_run"].min),
        "overhead_per_step_ms": r(overhead.median * 1000, 2),
        "overhead_per_step_min_ms": r(overhead.min * 1000, 2),
        "cached_rerun_s": r(proc["cached_rerun"].median),
        "cached_rerun_min_s": r(proc["cached_rerun"].min),
        "direct_cpu_s": r(proc["direct_cpu"].median),
        "first_run_cpu_s": r(proc["first_run_cpu"].median),
        "cached_rerun_cpu_s": r(proc["cached_rerun_cpu"].median),
        "inprocess_direct_ms": r(inproc["direct"].median * 1000),
        "inprocess_first_run_s": r(inproc["first_run"].median),
        "inprocess_first_run_min_s": r(inproc["first_run"].min),
        "inprocess_overhead_per_step_ms": r(in_overhead.median * 1000, 2),
        "inprocess_overhead_per_step_min_ms": r(in_overhead.min * 1000, 2),
        "inprocess_cached_run_s": r(inproc["cached_rerun"].median),
        "inprocess_cached_run_min_s": r(inproc["cached_rerun"].min),
        "metaflow_version": mf_version,
        "metaflow_run_s": r(mf.median) if mf is not None else None,
        "metaflow_run_min_s": r(mf.min) if mf is not None else None,
        "metaflow_overhead_per_step_ms": (
            r(mf_overhead.median * 1000, 2) if mf_overhead is not None else None
        ),
        "metaflow_error": mf_error.splitlines()[0] if mf_error else None,
        "goal_overhead_ms": GOAL_OVERHEAD_MS,
        "goal_cached_s": GOAL_CACHED_S,
        "overhead_goal_met": overhead_met,
        "cached_goal_met": cached_met,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
