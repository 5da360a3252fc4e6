"""The metadata store: runs, step executions, artifacts, lineage, params, metrics.

SQLAlchemy Core over SQLite (WAL, foreign keys, busy timeout) by default, or
any SQLAlchemy URL (PostgreSQL). The schema is versioned with Alembic; opening
a store made by an older Shipyard upgrades it. Alembic is imported only when
the schema is behind, so opening an up-to-date store stays cheap.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from ..errors import ReferenceError_, StoreError
from . import _tables as t

__all__ = ["MetadataStore", "SCHEMA_HEAD"]

SCHEMA_HEAD = "0002"  # the newest migration in migrations/versions; a test checks it
_MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 60.0
# PostgreSQL advisory lock keys (their space is per database, so stores never share one).
_PG_MIGRATION_LOCK = 7142023
_PG_WRITE_LOCK = 7142024


def _now() -> float:
    return time.time()


def new_id() -> str:
    """A fresh 32-hex-digit identifier for runs and executions."""
    return uuid.uuid4().hex


class MetadataStore:
    """Typed access to the metadata tables.

    Parameters
    ----------
    url
        A SQLAlchemy URL, e.g. ``sqlite:////abs/path/metadata.db`` or
        ``postgresql+psycopg://user@host/db``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        try:
            self.engine = _make_engine(url)
            self._migrate()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the metadata store {_mask_url(url)}: {exc}") from exc
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"cannot open the metadata store {_mask_url(url)}: its database driver"
                f" {exc.name!r} is not installed"
            ) from exc

    # -- connections -------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that takes the store's write lock up front.

        On SQLite that is ``BEGIN IMMEDIATE``: taking the lock at the start, not at
        the first write, is what keeps two processes from deadlocking on a lock
        upgrade ("database is locked"). On PostgreSQL it is an advisory lock held
        to the end of the transaction (see ``_lock_for_writing``).
        """
        try:
            with (
                self.engine.connect().execution_options(shipyard_write=True) as conn,
                conn.begin(),
            ):
                if conn.dialect.name == "postgresql":
                    _lock_for_writing(conn)
                yield conn
        except OperationalError as exc:
            raise StoreError(f"metadata store {_mask_url(self.url)}: {exc.orig}") from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot under WAL)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"metadata store {_mask_url(self.url)}: {exc.orig}") from exc

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ------------------------------------------------------------

    def schema_version(self) -> str | None:
        with self.read() as conn:
            try:
                return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            except (OperationalError, SQLAlchemyError):
                return None

    def _migrate(self) -> None:
        try:
            current = self.schema_version()
        except StoreError:
            current = None
        if current == SCHEMA_HEAD:
            return
        with self._migration_lock():
            if self.schema_version() == SCHEMA_HEAD:  # another process migrated meanwhile
                return
            if self._is_empty():
                # A new store: create the head schema directly and stamp it, as Alembic's
                # docs advise; importing Alembic would cost more than the whole first run.
                with self.engine.begin() as conn:
                    t.metadata.create_all(conn)
                    conn.exec_driver_sql(
                        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
                    )
                    conn.execute(
                        text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                        {"v": SCHEMA_HEAD},
                    )
                return
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(_MIGRATIONS))
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")

    def _is_empty(self) -> bool:
        from sqlalchemy import inspect as sa_inspect

        return not sa_inspect(self.engine).get_table_names()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Serialise migrations between processes (a file lock for SQLite, an advisory lock else)."""
        if self.is_sqlite:
            db = self.engine.url.database
            lock_path = Path(db + ".migrate.lock") if db and db != ":memory:" else None
            if lock_path is None:
                yield
                return
            with open(lock_path, "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        elif self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_MIGRATION_LOCK})")
                try:
                    yield
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_MIGRATION_LOCK})")
        else:
            yield

    # -- runs --------------------------------------------------------------

    def create_run(
        self,
        *,
        pipeline: str,
        source: str,
        seed: int,
        params: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        name: str | None = None,
        parent_id: str | None = None,
        resumed_from: str | None = None,
        reproduces: str | None = None,
        environment: Mapping[str, Any] | None = None,
        git: Mapping[str, str | None] | None = None,
    ) -> tuple[str, str]:
        """Insert a run with status ``running``; return its ``(id, name)``.

        Without a ``name`` the run is called ``<pipeline>-<n>``; ``n`` is taken
        under the write lock, and a name already taken raises ``StoreError``.
        """
        run_id = new_id()
        env_digest = environment.get("digest") if environment else None
        with self.write() as conn:
            if environment and env_digest:
                exists = conn.execute(
                    select(t.environments.c.digest).where(t.environments.c.digest == env_digest)
                ).first()
                if not exists:
                    conn.execute(
                        insert(t.environments).values(
                            digest=env_digest,
                            python=environment["python"],
                            platform=environment["platform"],
                            cpu=environment["cpu"],
                            packages=json.dumps(environment["packages"], sort_keys=True),
                            created_at=_now(),
                        )
                    )
            if name is None:
                count = conn.execute(
                    select(func.count()).select_from(t.runs).where(t.runs.c.pipeline == pipeline)
                ).scalar_one()
                name = f"{pipeline}-{count + 1}"
                while conn.execute(select(t.runs.c.id).where(t.runs.c.name == name)).first():
                    count += 1
                    name = f"{pipeline}-{count + 1}"
            try:
                conn.execute(
                    insert(t.runs).values(
                        id=run_id,
                        name=name,
                        pipeline=pipeline,
                        source=source,
                        status="running",
                        seed=seed,
                        parent_id=parent_id,
                        resumed_from=resumed_from,
                        reproduces=reproduces,
                        git_commit=(git or {}).get("commit"),
                        git_dirty_digest=(git or {}).get("dirty_digest"),
                        environment=env_digest,
                        user=os.environ.get("USER", ""),
                        host=os.uname().nodename,
                        pid=os.getpid(),
                        created_at=_now(),
                    )
                )
            except IntegrityError as exc:
                raise StoreError(
                    f"a run named {name!r} already exists; choose another name"
                ) from exc
            if params:
                conn.execute(
                    insert(t.params),
                    [
                        {"run_id": run_id, "key": k, "value": json.dumps(v, default=str)}
                        for k, v in params.items()
                    ],
                )
            if tags:
                conn.execute(
                    insert(t.run_tags),
                    [{"run_id": run_id, "key": k, "value": str(v)} for k, v in tags.items()],
                )
        return run_id, name

    def finish_run(
        self,
        run_id: str,
        status: str,
        error: str | None = None,
        *,
        metrics: Iterable[tuple[str, float, int, float]] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """End a run; its last ``metrics`` and ``tags`` go in the same transaction."""
        with self.write() as conn:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(status=status, ended_at=_now(), error=error)
            )
            self.log_metrics(run_id, metrics, conn=conn)
            self.replace_tags(conn, run_id, tags or {})

    def reopen_run(self, run_id: str, *, pid: int) -> None:
        """Mark a failed or interrupted run as running again (``--resume``)."""
        with self.write() as conn:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    status="running", ended_at=None, error=None, pid=pid, host=os.uname().nodename
                )
            )

    def upsert_params(self, conn: Connection, run_id: str, values: Mapping[str, Any]) -> None:
        """Set run parameters inside the caller's transaction, replacing earlier values."""
        for k, v in values.items():
            conn.execute(
                delete(t.params).where(and_(t.params.c.run_id == run_id, t.params.c.key == k))
            )
            conn.execute(
                insert(t.params).values(run_id=run_id, key=k, value=json.dumps(v, default=str))
            )

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        with self.write() as conn:
            self.replace_tags(conn, run_id, tags)

    def replace_tags(self, conn: Connection, run_id: str, tags: Mapping[str, str]) -> None:
        """Set run tags inside the caller's transaction, replacing earlier values."""
        for k, v in tags.items():
            conn.execute(
                delete(t.run_tags).where(and_(t.run_tags.c.run_id == run_id, t.run_tags.c.key == k))
            )
            conn.execute(insert(t.run_tags).values(run_id=run_id, key=k, value=str(v)))

    def log_params(self, run_id: str, values: Mapping[str, Any]) -> None:
        with self.write() as conn:
            self.upsert_params(conn, run_id, values)

    def log_metrics(
        self,
        run_id: str,
        values: Iterable[tuple[str, float, int, float]],
        execution_id: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Record ``(key, value, step, timestamp)`` tuples."""
        rows = [
            {
                "run_id": run_id,
                "execution_id": execution_id,
                "key": k,
                "value": float(v),
                "step": int(s),
                "timestamp": ts,
            }
            for k, v, s, ts in values
        ]
        if not rows:
            return
        if conn is not None:
            conn.execute(insert(t.metrics), rows)
            return
        with self.write() as c:
            c.execute(insert(t.metrics), rows)

    def resolve_run(self, text: str) -> dict[str, Any]:
        """Find a run by ID, unique ID prefix, ``run:ID`` or exact name."""
        key = text[4:] if text.startswith("run:") else text
        with self.read() as conn:
            rows = conn.execute(select(t.runs).where(t.runs.c.name == key)).mappings().all()
            if not rows:
                rows = (
                    conn.execute(select(t.runs).where(t.runs.c.id.like(key.lower() + "%")).limit(2))
                    .mappings()
                    .all()
                    if key and all(c in "0123456789abcdefABCDEF" for c in key)
                    else []
                )
        if not rows:
            raise ReferenceError_(f"no run with ID or name {text!r}; `shipyard runs` lists them")
        if len(rows) > 1:
            raise ReferenceError_(f"run ID prefix {text!r} is ambiguous; give more digits")
        return dict(rows[0])

    def run_details(self, run_id: str) -> dict[str, Any]:
        """A run with its params, tags, final metrics, executions and their artifacts."""
        with self.read() as conn:
            run = dict(conn.execute(select(t.runs).where(t.runs.c.id == run_id)).mappings().one())
            run["params"] = {
                r.key: json.loads(r.value)
                for r in conn.execute(select(t.params).where(t.params.c.run_id == run_id))
            }
            run["tags"] = {
                r.key: r.value
                for r in conn.execute(select(t.run_tags).where(t.run_tags.c.run_id == run_id))
            }
            run["metrics"] = _last_metrics(conn, [run_id]).get(run_id, {})
            execs = (
                conn.execute(
                    select(t.executions)
                    .where(t.executions.c.run_id == run_id)
                    .order_by(t.executions.c.started_at.is_(None), t.executions.c.started_at)
                )
                .mappings()
                .all()
            )
            ev = conn.execute(
                select(t.events, t.artifacts.c.type, t.artifacts.c.size, t.artifacts.c.python_type)
                .join(t.artifacts, t.artifacts.c.digest == t.events.c.artifact)
                .where(t.events.c.execution_id.in_([e["id"] for e in execs]))
            ).mappings()
            by_exec: dict[str, dict[str, list[dict[str, Any]]]] = {}
            for e in ev:
                by_exec.setdefault(e["execution_id"], {"input": [], "output": []})[
                    e["kind"]
                ].append(dict(e))
            files = conn.execute(
                select(t.input_files).where(
                    t.input_files.c.execution_id.in_([e["id"] for e in execs])
                )
            ).mappings()
            files_by_exec: dict[str, list[dict[str, Any]]] = {}
            for f in files:
                files_by_exec.setdefault(f["execution_id"], []).append(dict(f))
            run["executions"] = []
            for e in execs:
                d = dict(e)
                d["params"] = json.loads(d["params"])
                io = by_exec.get(e["id"], {"input": [], "output": []})
                d["inputs"], d["outputs"] = io["input"], io["output"]
                d["input_files"] = files_by_exec.get(e["id"], [])
                run["executions"].append(d)
            env = None
            if run["environment"]:
                env = (
                    conn.execute(
                        select(t.environments).where(t.environments.c.digest == run["environment"])
                    )
                    .mappings()
                    .first()
                )
            run["env"] = (
                {**dict(env), "packages": json.loads(env["packages"])} if env is not None else None
            )
        return run

    def list_runs(
        self,
        *,
        status: str | None = None,
        tags: Mapping[str, str] | None = None,
        pipeline: str | None = None,
        parent: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Runs, newest first, with params, tags and the last value of each metric."""
        q = select(t.runs).order_by(t.runs.c.created_at.desc())
        if status:
            q = q.where(t.runs.c.status == status)
        if pipeline:
            q = q.where(t.runs.c.pipeline == pipeline)
        if parent:
            q = q.where(t.runs.c.parent_id == parent)
        for k, v in (tags or {}).items():
            q = q.where(
                t.runs.c.id.in_(
                    select(t.run_tags.c.run_id).where(
                        and_(t.run_tags.c.key == k, t.run_tags.c.value == v)
                    )
                )
            )
        if limit:
            q = q.limit(limit)
        with self.read() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
            ids = [r["id"] for r in rows]
            params: dict[str, dict[str, Any]] = {}
            tag_map: dict[str, dict[str, str]] = {}
            for chunk in _chunks(ids, 500):
                for p in conn.execute(select(t.params).where(t.params.c.run_id.in_(chunk))):
                    params.setdefault(p.run_id, {})[p.key] = json.loads(p.value)
                for g in conn.execute(select(t.run_tags).where(t.run_tags.c.run_id.in_(chunk))):
                    tag_map.setdefault(g.run_id, {})[g.key] = g.value
            metrics = _last_metrics(conn, ids)
        for r in rows:
            r["params"] = params.get(r["id"], {})
            r["tags"] = tag_map.get(r["id"], {})
            r["metrics"] = metrics.get(r["id"], {})
        return rows

    def execution_metrics(self, execution_id: str) -> dict[str, float]:
        """The last value (by step) of each metric one step execution logged."""
        with self.read() as conn:
            rows = conn.execute(
                select(t.metrics.c.key, t.metrics.c.value)
                .where(t.metrics.c.execution_id == execution_id)
                .order_by(t.metrics.c.step, t.metrics.c.id)
            )
            return {r.key: float(r.value) for r in rows}

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float, float]]:
        with self.read() as conn:
            rows = conn.execute(
                select(t.metrics.c.step, t.metrics.c.value, t.metrics.c.timestamp)
                .where(and_(t.metrics.c.run_id == run_id, t.metrics.c.key == key))
                .order_by(t.metrics.c.step, t.metrics.c.id)
            ).all()
        return [(int(r[0]), float(r[1]), float(r[2])) for r in rows]

    # -- executions and the cache -------------------------------------------

    def find_cached(self, cache_key: str) -> list[dict[str, Any]] | None:
        """Outputs of the newest succeeded execution with ``cache_key``, or None."""
        with self.read() as conn:
            row = conn.execute(
                select(t.executions.c.id)
                .where(
                    and_(
                        t.executions.c.cache_key == cache_key,
                        t.executions.c.status == "succeeded",
                    )
                )
                .order_by(t.executions.c.ended_at.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            outs = conn.execute(
                select(t.events.c.name, t.artifacts)
                .join(t.artifacts, t.artifacts.c.digest == t.events.c.artifact)
                .where(and_(t.events.c.execution_id == row.id, t.events.c.kind == "output"))
            ).mappings()
            return [dict(o) for o in outs]

    def record_execution(
        self,
        conn: Connection,
        *,
        execution_id: str,
        run_id: str,
        values: Mapping[str, Any],
    ) -> None:
        """Insert or update one execution row inside the caller's transaction."""
        vals = dict(values)
        if "params" in vals and not isinstance(vals["params"], str):
            vals["params"] = json.dumps(vals["params"], sort_keys=True, default=str)
        existing = conn.execute(
            select(t.executions.c.id).where(t.executions.c.id == execution_id)
        ).first()
        if existing:
            conn.execute(
                update(t.executions).where(t.executions.c.id == execution_id).values(**vals)
            )
        else:
            conn.execute(insert(t.executions).values(id=execution_id, run_id=run_id, **vals))

    def record_artifact(self, conn: Connection, info: Mapping[str, Any]) -> None:
        """Insert an artifact row unless its digest is already known."""
        if conn.execute(
            select(t.artifacts.c.digest).where(t.artifacts.c.digest == info["digest"])
        ).first():
            return
        conn.execute(
            insert(t.artifacts).values(
                digest=info["digest"],
                type=info["type"],
                python_type=info["python_type"],
                uri=info["uri"],
                size=info["size"],
                properties=json.dumps(info.get("properties", {}), sort_keys=True, default=str),
                unsafe=bool(info.get("unsafe", False)),
                created_at=_now(),
            )
        )

    def record_events(
        self, conn: Connection, execution_id: str, kind: str, named: Mapping[str, str]
    ) -> None:
        if named:
            conn.execute(
                insert(t.events),
                [
                    {"execution_id": execution_id, "kind": kind, "name": n, "artifact": d}
                    for n, d in named.items()
                ],
            )

    def record_input_files(
        self, conn: Connection, execution_id: str, files: Sequence[Mapping[str, Any]]
    ) -> None:
        if files:
            conn.execute(
                insert(t.input_files),
                [{"execution_id": execution_id, **f} for f in files],
            )

    def resolve_artifact(self, prefix: str) -> dict[str, Any]:
        """The artifact whose digest starts with ``prefix`` (``artifact:`` allowed)."""
        key = prefix[9:] if prefix.startswith("artifact:") else prefix
        if len(key) < 4 or any(c not in "0123456789abcdef" for c in key):
            raise ReferenceError_(
                f"artifact reference {prefix!r}: expected 4-64 lowercase hex digits of a sha256"
            )
        with self.read() as conn:
            rows = (
                conn.execute(
                    select(t.artifacts).where(t.artifacts.c.digest.like(key + "%")).limit(2)
                )
                .mappings()
                .all()
            )
        if not rows:
            raise ReferenceError_(f"no artifact with digest starting {key!r}")
        if len(rows) > 1:
            raise ReferenceError_(f"artifact prefix {key!r} is ambiguous; give more digits")
        out = dict(rows[0])
        out["properties"] = json.loads(out["properties"])
        return out

    def artifact_lineage(self, digest: str) -> dict[str, Any]:
        """The execution that produced ``digest`` and the executions that consumed it."""
        with self.read() as conn:
            producer = (
                conn.execute(
                    select(t.executions, t.runs.c.name.label("run_name"))
                    .join(t.events, t.events.c.execution_id == t.executions.c.id)
                    .join(t.runs, t.runs.c.id == t.executions.c.run_id)
                    .where(
                        and_(
                            t.events.c.artifact == digest,
                            t.events.c.kind == "output",
                            t.executions.c.cache_hit.is_(False),
                        )
                    )
                    .order_by(t.executions.c.ended_at)
                    .limit(1)
                )
                .mappings()
                .first()
            )
            inputs: list[dict[str, Any]] = []
            if producer is not None:
                inputs = [
                    dict(r)
                    for r in conn.execute(
                        select(t.events.c.name, t.events.c.artifact, t.artifacts.c.type)
                        .join(t.artifacts, t.artifacts.c.digest == t.events.c.artifact)
                        .where(
                            and_(
                                t.events.c.execution_id == producer["id"],
                                t.events.c.kind == "input",
                            )
                        )
                    ).mappings()
                ]
                files = [
                    dict(r)
                    for r in conn.execute(
                        select(t.input_files).where(t.input_files.c.execution_id == producer["id"])
                    ).mappings()
                ]
            else:
                files = []
            consumers = [
                dict(r)
                for r in conn.execute(
                    select(
                        t.executions.c.id,
                        t.executions.c.node,
                        t.executions.c.run_id,
                        t.runs.c.name.label("run_name"),
                    )
                    .join(t.events, t.events.c.execution_id == t.executions.c.id)
                    .join(t.runs, t.runs.c.id == t.executions.c.run_id)
                    .where(and_(t.events.c.artifact == digest, t.events.c.kind == "input"))
                ).mappings()
            ]
            outputs_of = {}
            for c in consumers:
                outputs_of[c["id"]] = [
                    r.artifact
                    for r in conn.execute(
                        select(t.events.c.artifact).where(
                            and_(t.events.c.execution_id == c["id"], t.events.c.kind == "output")
                        )
                    )
                ]
            versions = [
                dict(r)
                for r in conn.execute(
                    select(t.model_versions.c.name, t.model_versions.c.version).where(
                        t.model_versions.c.artifact == digest
                    )
                ).mappings()
            ]
        return {
            "producer": dict(producer) if producer is not None else None,
            "inputs": inputs,
            "input_files": files,
            "consumers": [{**c, "outputs": outputs_of[c["id"]]} for c in consumers],
            "model_versions": versions,
        }

    def resolve_model_version(
        self, name: str, *, version: int | None, alias: str | None
    ) -> dict[str, Any]:
        """The model version a ``NAME:VERSION``, ``NAME@ALIAS`` or ``NAME`` reference names."""
        with self.read() as conn:
            if alias is not None:
                row = conn.execute(
                    select(t.aliases.c.version).where(
                        and_(t.aliases.c.name == name, t.aliases.c.alias == alias)
                    )
                ).first()
                if row is None:
                    raise ReferenceError_(f"model {name!r} has no alias {alias!r}")
                version = int(row.version)
            q = select(t.model_versions).where(t.model_versions.c.name == name)
            q = (
                q.where(t.model_versions.c.version == version)
                if version is not None
                else q.order_by(t.model_versions.c.version.desc()).limit(1)
            )
            mv = conn.execute(q).mappings().first()
        if mv is None:
            what = f"version {version}" if version is not None else "any version"
            raise ReferenceError_(
                f"model {name!r} has no {what}; `shipyard models list` shows them"
            )
        return dict(mv)

    # -- garbage collection ------------------------------------------------

    def referenced_digests(self) -> set[str]:
        """Digests referenced by any run's executions or any model version."""
        with self.read() as conn:
            used = {r[0] for r in conn.execute(select(t.events.c.artifact).distinct())}
            used |= {r[0] for r in conn.execute(select(t.model_versions.c.artifact).distinct())}
            for table in (t.monitor_windows, t.monitor_actions):
                used |= {
                    r[0]
                    for r in conn.execute(select(table.c.report).distinct())
                    if r[0] is not None
                }
        return used

    def artifact_rows(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(r) for r in conn.execute(select(t.artifacts)).mappings()]

    def delete_artifacts(self, digests: Sequence[str]) -> None:
        with self.write() as conn:
            for chunk in _chunks(list(digests), 500):
                conn.execute(delete(t.artifacts).where(t.artifacts.c.digest.in_(chunk)))

    def counts(self) -> dict[str, int]:
        """Row count of every table (tests compare these before and after a failure)."""
        with self.read() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in t.metadata.tables.items()
            }


def _lock_for_writing(conn: Connection) -> None:
    """Queue this PostgreSQL transaction behind every other write transaction of the store.

    The store writes by reading first: the next free run name ``<pipeline>-<n>``,
    whether an environment or artifact row is already there, whether an execution
    row exists. That is only right with one writer at a time, which SQLite's
    ``BEGIN IMMEDIATE`` gives and PostgreSQL does not: two transactions would pick
    the same name and one would fail. The lock is taken before any read, so under
    READ COMMITTED every later statement sees what the previous writer committed;
    PostgreSQL releases it at commit or rollback. Waiting is bounded like SQLite's
    busy timeout, so a stuck writer gives an error rather than a hang.
    """
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(BUSY_TIMEOUT_S * 1000)}ms'")
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_WRITE_LOCK})")


def _last_metrics(conn: Connection, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """The last logged value of every metric of each run (by step, then insertion order)."""
    out: dict[str, dict[str, float]] = {}
    for chunk in _chunks(list(run_ids), 500):
        rows = conn.execute(
            select(t.metrics.c.run_id, t.metrics.c.key, t.metrics.c.value)
            .where(t.metrics.c.run_id.in_(chunk))
            .order_by(t.metrics.c.step, t.metrics.c.id)
        )
        for r in rows:
            out.setdefault(r.run_id, {})[r.key] = float(r.value)
    return out


def _chunks(items: list[str], n: int) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _mask_url(url: str) -> str:
    """Hide a password embedded in a database URL."""
    import re

    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        db = url.split("///", 1)[-1] if "///" in url else ""
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when a transaction begins.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("shipyard_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)
