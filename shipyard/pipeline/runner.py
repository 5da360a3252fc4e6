"""The engine: schedule a traced graph, consult the cache, run, record.

One process, the engine, is the only writer of a run's metadata. It hands
tasks to an executor and records every result (execution row, artifacts,
lineage events, metrics) in one transaction. Nothing is written before the
pipeline is traced and its parameters are checked, so a bad definition or
parameter leaves the stores untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ShipyardError, StepFailedError
from ..store.artifacts import file_sha256, pid_alive
from ._execute import output_key, output_names
from .dag import Graph, Node, Pipeline, iter_outputs
from .environment import environment_snapshot, git_state, node_seed
from .executors import make_executor
from .project import Project
from .results import Run

__all__ = ["run", "CACHE_VERSION"]

CACHE_VERSION = 1  # bump when the meaning of a cache key changes


def run(
    pipeline: Pipeline,
    /,
    *,
    params: dict[str, Any] | None = None,
    no_cache: bool = False,
    seed: int | None = None,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    resume: str | None = None,
    project: Project | None = None,
    executor: str | None = None,
    workers: int | None = None,
    reproduces: str | None = None,
    progress: Callable[[str, str, dict[str, Any]], None] | None = None,
    **kwargs: Any,
) -> Run:
    """Run ``pipeline`` and return the finished :class:`Run`.

    Parameters
    ----------
    pipeline
        A function decorated with ``@pipeline``.
    params, **kwargs
        The pipeline's parameters (``kwargs`` win); the function's defaults fill the rest.
    no_cache
        Run every step even when an identical execution exists.
    seed
        The run seed (``seed`` of ``shipyard.yaml``, 0 by default).
    resume
        A failed or interrupted run's ID: steps that succeeded in it are kept,
        the rest run, and the same run record is completed.
    progress
        Called as ``progress(event, node, info)`` with ``event`` one of
        ``start``, ``cached``, ``done``, ``failed``, ``retry``.

    Raises
    ------
    PipelineDefinitionError
        Unknown parameters or a misuse of steps, before anything is recorded.
    StepFailedError
        A step failed after its retries; the run is recorded as failed.
    """
    project = project or Project.discover()
    cfg = project.config
    store = project.metadata
    values = {**(params or {}), **kwargs}
    old: dict[str, Any] | None = None
    if resume:
        old = store.resolve_run(resume)
        _check_resumable(old)
        values = {**pipeline.restore(store.run_details(old["id"])["params"]), **values}
        seed = old["seed"] if seed is None else seed
    resolved = pipeline.resolve_params(values)
    graph = pipeline.trace(resolved)
    seed = cfg.seed if seed is None else seed
    exe = make_executor(executor or cfg.executor.kind, workers=workers or cfg.executor.workers)

    env = environment_snapshot(project.store_dir / "cache")
    git = git_state(project.root)
    project.artifacts.clean_staging()
    # A parameter whose value is a secret from shipyard.yaml (${ENV_VAR}) is recorded masked.
    shown = {k: _mask(cfg, _plain(v)) for k, v in resolved.items()}
    if old is not None:
        run_id, run_name = old["id"], old["name"]
        store.reopen_run(run_id, pid=os.getpid())
    else:
        run_id, run_name = store.create_run(
            pipeline=pipeline.name,
            source=pipeline.source or f"{pipeline.fn.__module__}:{pipeline.fn.__qualname__}",
            seed=seed,
            params=shown,
            tags=tags,
            name=name,
            reproduces=reproduces,
            environment=env,
            git=git,
        )
    engine = _Engine(project, graph, run_id, seed, no_cache, exe, progress, env)
    if old is not None:
        engine.reuse_finished(old["id"])
    try:
        engine.loop()
    except BaseException as exc:
        interrupted = not isinstance(exc, StepFailedError)
        store.finish_run(run_id, "failed", "interrupted" if interrupted else str(exc))
        raise
    store.finish_run(run_id, "succeeded")
    return Run(project, run_id)


def _check_resumable(old: dict[str, Any]) -> None:
    if old["status"] == "succeeded":
        raise ShipyardError(
            f"run {old['name']} ({old['id'][:8]}) already succeeded; nothing to resume"
        )
    alive = (
        old["status"] == "running"
        and old["host"] == socket.gethostname()
        and bool(old["pid"])
        and pid_alive(old["pid"])
    )
    if alive and old["pid"] != os.getpid():
        raise ShipyardError(
            f"run {old['name']} is still running (pid {old['pid']}); wait for it or stop it first"
        )


def _plain(value: Any) -> Any:
    """Parameters as JSON-able values (paths as strings)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _mask(cfg: Any, value: Any) -> Any:
    if isinstance(value, str):
        return cfg.mask(value)
    if isinstance(value, list):
        return [_mask(cfg, v) for v in value]
    if isinstance(value, dict):
        return {k: _mask(cfg, v) for k, v in value.items()}
    return value


def _path_values(node: Node, key: str, value: Any) -> list[Path]:
    """The input files a literal argument names: a Path, a str annotated Path, a list of Paths."""
    if isinstance(value, list | tuple) and value and all(isinstance(v, Path) for v in value):
        return list(value)
    return [Path(value)] if _is_path_param(node, key, value) else []


def _is_path_param(node: Node, key: str, value: Any) -> bool:
    if isinstance(value, Path):
        return True
    if not isinstance(value, str):
        return False
    try:
        hint = typing.get_type_hints(node.step.fn).get(key)
    except Exception:  # noqa: BLE001 - unresolvable hints: treat as a plain string
        return False
    return hint is Path or Path in typing.get_args(hint)


class _FileDigests:
    """sha256 of input files, remembered by (path, size, mtime, inode).

    Hashing a 2 GB input on every run would cost seconds before the cache could
    even be consulted; a file whose size, mtime and inode are unchanged is not
    read again. The memo is a JSON file replaced atomically.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._memo: dict[str, str] | None = None
        self._dirty = False

    def _load(self) -> dict[str, str]:
        if self._memo is None:
            try:
                self._memo = dict(json.loads(self.path.read_text()))
            except (OSError, ValueError):
                self._memo = {}
        return self._memo

    def _file(self, p: Path) -> str:
        st = p.stat()
        key = f"{p}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
        memo = self._load()
        if key not in memo:
            memo[key] = file_sha256(p)
            self._dirty = True
        return memo[key]

    def get(self, path: Path) -> tuple[str, int]:
        """sha256 and size of a file, or of a folder's files by relative name."""
        if path.is_file():
            return self._file(path), path.stat().st_size
        if path.is_dir():
            h, size = hashlib.sha256(), 0
            for p in sorted(path.rglob("*")):
                if p.is_file():
                    h.update(f"{p.relative_to(path).as_posix()}\0{self._file(p)}\n".encode())
                    size += p.stat().st_size
            return h.hexdigest(), size
        return "missing", 0

    def save(self) -> None:
        if not self._dirty or self._memo is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._memo))
        os.replace(tmp, self.path)
        self._dirty = False


class _Engine:
    def __init__(
        self,
        project: Project,
        graph: Graph,
        run_id: str,
        seed: int,
        no_cache: bool,
        executor: Any,
        progress: Callable[[str, str, dict[str, Any]], None] | None,
        env: dict[str, Any],
    ) -> None:
        self.project, self.graph, self.run_id, self.seed = project, graph, run_id, seed
        self.no_cache, self.executor, self.env = no_cache, executor, env
        self.progress = progress or (lambda *_: None)
        self.store = project.metadata
        self.done: dict[str, list[str]] = {}  # node -> output digests
        self.attempts: dict[str, int] = {}
        self.retry_at: dict[str, float] = {}
        self.exec_ids: dict[str, str] = {}
        self.prepared: dict[str, dict[str, Any]] = {}
        self.failure: StepFailedError | None = None
        self._hits: list[tuple[Node, dict[str, Any], dict[str, str], float]] = []
        self.digests = _FileDigests(project.store_dir / "cache" / "file-digests.json")

    def reuse_finished(self, old_run: str) -> None:
        """Keep the outputs of nodes that already succeeded in the run being resumed."""
        for ex in self.store.run_details(old_run)["executions"]:
            if ex["status"] == "succeeded" and ex["node"] in self.graph.nodes:
                outs = {o["name"]: o["artifact"] for o in ex["outputs"]}
                names = output_names(self.graph.nodes[ex["node"]].step.n_outputs)
                if all(n in outs and self.project.artifacts.exists(outs[n]) for n in names):
                    self.done[ex["node"]] = [outs[n] for n in names]
                    self.progress("cached", ex["node"], {"resumed": True})

    # -- preparing a node -----------------------------------------------------

    def _prepare(self, node: Node) -> dict[str, Any]:
        inputs: dict[str, str] = {}  # event name (arg path) -> digest
        by_output: dict[str, str] = {}  # output key -> digest, for the worker
        for key, value in node.inputs().items():
            for path, out in iter_outputs(value, key):
                digest = self.done[out.node][out.index or 0]
                inputs[path] = digest
                by_output[output_key(out)] = digest
        files = []
        literals = {}
        for key, value in node.literals().items():
            paths = _path_values(node, key, value)
            for p in paths:
                p = p if p.is_absolute() else (Path.cwd() / p)
                digest, size = self.digests.get(p)
                files.append({"path": self.project.relative(p), "digest": digest, "size": size})
            literals[key] = _plain(value)
        packages = {
            pkg: self.env["packages"].get(pkg.lower().replace("_", "-"), "not installed")
            for pkg in node.step.options.packages
        }
        seed = node_seed(self.seed, node.name)
        material = {
            "v": CACHE_VERSION,
            "code": node.step.code_digest,
            "params": literals,
            "inputs": inputs,
            "files": {f["path"]: f["digest"] for f in files},
            "packages": packages,
            "seed": seed,
            "pickle": node.step.options.allow_pickle,
        }
        key = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()
        upstream_pickle = any(self.graph.nodes[u].step.options.allow_pickle for u in node.upstream)
        return {
            "cache_key": key,
            "inputs": inputs,
            "by_output": by_output,
            "files": files,
            "literals": literals,
            "seed": seed,
            "unsafe_ok": node.step.options.allow_pickle or upstream_pickle,
        }

    def _try_cache(self, node: Node, prep: dict[str, Any]) -> bool:
        if self.no_cache or not node.step.options.cache:
            return False
        outs = self.store.find_cached(prep["cache_key"])
        if outs is None:
            return False
        by_name = {o["name"]: o["digest"] for o in outs}
        names = output_names(node.step.n_outputs)
        if not all(n in by_name and self.project.artifacts.exists(by_name[n]) for n in names):
            return False  # the artifacts were garbage-collected: run again
        self._hits.append((node, prep, by_name, time.time()))
        self.done[node.name] = [by_name[n] for n in names]
        self.progress("cached", node.name, {})
        return True

    def _flush_hits(self) -> None:
        """Record the cache hits of one scheduling pass in one transaction."""
        if not self._hits:
            return
        with self.store.write() as conn:
            for node, prep, by_name, now in self._hits:
                exec_id = _new_id()
                self.store.record_execution(
                    conn,
                    execution_id=exec_id,
                    run_id=self.run_id,
                    values=self._row(node, prep, status="succeeded", cache_hit=True)
                    | {"started_at": now, "ended_at": now, "duration_s": 0.0},
                )
                self.store.record_events(conn, exec_id, "input", prep["inputs"])
                self.store.record_events(conn, exec_id, "output", by_name)
                self.store.record_input_files(conn, exec_id, prep["files"])
        self._hits.clear()

    def _row(self, node: Node, prep: dict[str, Any], **values: Any) -> dict[str, Any]:
        return {
            "node": node.name,
            "step": node.step.qualname,
            "cache_key": prep["cache_key"],
            "code_digest": node.step.code_digest,
            "params": prep["literals"],
            "seed": prep["seed"],
            **values,
        }

    # -- the loop -------------------------------------------------------------

    def _ready(self, name: str, now: float) -> bool:
        node = self.graph.nodes[name]
        return all(u in self.done for u in node.upstream) and self.retry_at.get(name, 0) <= now

    def loop(self) -> None:
        graph = self.graph
        pending = [n for n in graph.nodes if n not in self.done]
        running: set[str] = set()
        width = _max_width(graph, set(self.done))
        started = False
        try:
            while pending or running:
                now = time.time()
                for name in list(pending):
                    if self.failure is not None:
                        break
                    if not self._ready(name, now):
                        continue
                    node = graph.nodes[name]
                    prep = self.prepared.get(name) or self._prepare(node)
                    self.prepared[name] = prep
                    if self.attempts.get(name, 0) == 0 and self._try_cache(node, prep):
                        pending.remove(name)
                        continue
                    if not started:
                        self.executor.start(graph, self.project.artifacts, width)
                        started = True
                    if not self.executor.can_submit():
                        break
                    self._submit(node, prep)
                    pending.remove(name)
                    running.add(name)
                self._flush_hits()
                if self.failure is not None and not running:
                    break
                if not running:
                    if pending and not any(self._ready(n, time.time()) for n in pending):
                        time.sleep(max(0.0, min(self.retry_at.values(), default=now) - time.time()))
                    continue
                wake = min(self.retry_at.values(), default=now + 1.0) - time.time()
                for result in self.executor.wait(timeout=max(0.05, min(1.0, wake))):
                    name = result["node"]
                    running.discard(name)
                    if self._finish(graph.nodes[name], result):
                        continue
                    pending.append(name)  # a retry
        finally:
            self._flush_hits()
            self.digests.save()
            if started:
                self.executor.shutdown()
        if self.failure is not None:
            raise self.failure

    def _submit(self, node: Node, prep: dict[str, Any]) -> None:
        attempt = self.attempts.get(node.name, 0) + 1
        self.attempts[node.name] = attempt
        exec_id = self.exec_ids.setdefault(node.name, _new_id())
        log_path = self.project.logs_dir / self.run_id / f"{node.name}.log"
        with self.store.write() as conn:
            self.store.record_execution(
                conn,
                execution_id=exec_id,
                run_id=self.run_id,
                values=self._row(
                    node,
                    prep,
                    status="running",
                    cache_hit=False,
                    attempts=attempt,
                    started_at=time.time(),
                    log_path=str(log_path),
                ),
            )
        task = {
            "node": node.name,
            "run_id": self.run_id,
            "inputs": prep["by_output"],
            "seed": prep["seed"],
            "log_path": str(log_path),
            "unsafe_ok": prep["unsafe_ok"],
            "timeout_s": node.step.options.timeout_s or self.project.config.executor.step_timeout_s,
        }
        self.executor.submit(task)
        self.progress("start", node.name, {"attempt": attempt})

    def _finish(self, node: Node, result: dict[str, Any]) -> bool:
        """Record a result; return False when the node should be retried."""
        exec_id = self.exec_ids[node.name]
        prep = self.prepared[node.name]
        opts = node.step.options
        retries = opts.retries if opts.retries else self.project.config.executor.retries
        attempt = self.attempts[node.name]
        ok = result["status"] == "succeeded"
        if not ok and attempt <= retries:
            self.retry_at[node.name] = time.time() + opts.retry_backoff_s * 2 ** (attempt - 1)
            self._append_log(result)
            self.progress("retry", node.name, {"error": result["error"], "attempt": attempt})
            return False
        self.retry_at.pop(node.name, None)
        started = result.get("started_at")
        values = {
            "status": result["status"],
            "ended_at": result["ended_at"],
            "duration_s": result["ended_at"] - started if started else None,
            "peak_rss_bytes": result.get("peak_rss_bytes"),
            "error": result.get("error"),
            "traceback": result.get("traceback"),
        }
        outputs = result.get("outputs", [])
        names = output_names(node.step.n_outputs)
        with self.store.write() as conn:
            self.store.record_execution(
                conn, execution_id=exec_id, run_id=self.run_id, values=values
            )
            for info in outputs:
                self.store.record_artifact(conn, info)
            self.store.record_events(conn, exec_id, "input", prep["inputs"])
            if ok:
                self.store.record_events(
                    conn,
                    exec_id,
                    "output",
                    {n: o["digest"] for n, o in zip(names, outputs, strict=True)},
                )
            self.store.record_input_files(conn, exec_id, prep["files"])
            self.store.log_metrics(self.run_id, result.get("metrics", []), exec_id, conn=conn)
            if result.get("params"):
                self.store.upsert_params(conn, self.run_id, result["params"])
            if ok and result.get("inexact"):  # what `reproduce` compares instead of digests
                tag = {f"inexact.{node.name}": json.dumps(result["inexact"], sort_keys=True)}
                self.store.replace_tags(conn, self.run_id, tag)
        if ok:
            self.done[node.name] = [o["digest"] for o in outputs]
            self.progress("done", node.name, values)
            return True
        self._append_log(result)
        self.failure = StepFailedError(
            node.name,
            result["error"],
            log_path=str(self.project.logs_dir / self.run_id / f"{node.name}.log"),
            run_id=self.run_id,
        )
        if str(result["error"]).startswith("GateRejectedError:"):
            self.failure.exit_code = 3  # the gate rejected the model: a verdict, not a crash
        self.progress("failed", node.name, values)
        return True

    def _append_log(self, result: dict[str, Any]) -> None:
        path = Path(result["task"]["log_path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fh.write(result.get("traceback") or (result["error"] + "\n"))


def _max_width(graph: Graph, done: set[str]) -> int:
    """The most nodes that could run at once (the widest level of the remaining graph)."""
    level: dict[str, int] = {}
    for name, node in graph.nodes.items():
        if name in done:
            continue
        level[name] = 1 + max((level.get(u, 0) for u in node.upstream), default=0)
    counts: dict[int, int] = {}
    for lv in level.values():
        counts[lv] = counts.get(lv, 0) + 1
    return max(counts.values(), default=1)


def _new_id() -> str:
    import uuid

    return uuid.uuid4().hex
