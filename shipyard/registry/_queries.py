"""The registry's SQL: every function runs inside the caller's transaction."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from ..errors import ReferenceError_
from ..store import _tables as t
from ._records import AliasMove, ModelVersion, decode_fields

__all__ = [
    "alias_move",
    "alias_version",
    "current_user",
    "known_aliases",
    "model_exists",
    "move",
    "read_versions",
    "require_model",
    "require_version",
]


def current_user() -> str:
    """Who is acting, for the audit log: the login name, else the numeric user ID."""
    try:
        return getpass.getuser()[:128]
    except (OSError, KeyError):  # a container user with no passwd entry and no $USER
        return f"uid {os.getuid()}"


def move(
    conn: Connection,
    name: str,
    alias: str,
    to_version: int | None,
    *,
    user: str | None,
    reason: str,
    at: float,
) -> AliasMove:
    """Move (or with ``to_version`` None delete) an alias and log it, in the caller's transaction."""
    who = (user or current_user())[:128]
    from_version = alias_version(conn, name, alias)
    if from_version == to_version:
        return AliasMove(None, name, alias, from_version, to_version, who, at, reason)
    where = and_(t.aliases.c.name == name, t.aliases.c.alias == alias)
    if to_version is None:
        conn.execute(delete(t.aliases).where(where))
    elif from_version is None:
        conn.execute(insert(t.aliases).values(name=name, alias=alias, version=to_version))
    else:
        conn.execute(update(t.aliases).where(where).values(version=to_version))
    result = conn.execute(
        insert(t.alias_events).values(
            name=name,
            alias=alias,
            from_version=from_version,
            to_version=to_version,
            user=who,
            at=at,
            reason=reason,
        )
    )
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row always has it
    event_id = int(key[0])
    return AliasMove(event_id, name, alias, from_version, to_version, who, at, reason)


def model_exists(conn: Connection, name: str) -> bool:
    return conn.execute(select(t.models.c.name).where(t.models.c.name == name)).first() is not None


def require_model(conn: Connection, name: str) -> None:
    if not model_exists(conn, name):
        raise ReferenceError_(
            f"no model named {name!r} is registered; `shipyard models list` shows them"
        )


def require_version(conn: Connection, name: str, version: int) -> None:
    mv = t.model_versions
    found = conn.execute(
        select(mv.c.version).where(and_(mv.c.name == name, mv.c.version == version))
    ).first()
    if found is None:
        latest = conn.execute(select(func.max(mv.c.version)).where(mv.c.name == name)).scalar()
        have = f"its versions are 1 to {latest}" if latest else "it has no versions"
        raise ReferenceError_(f"model {name!r} has no version {version}; {have}")


def alias_version(conn: Connection, name: str, alias: str) -> int | None:
    row = conn.execute(
        select(t.aliases.c.version).where(
            and_(t.aliases.c.name == name, t.aliases.c.alias == alias)
        )
    ).first()
    return None if row is None else int(row.version)


def known_aliases(conn: Connection, name: str) -> str:
    names = [
        r.alias
        for r in conn.execute(
            select(t.aliases.c.alias).where(t.aliases.c.name == name).order_by(t.aliases.c.alias)
        )
    ]
    return f"; its aliases: {', '.join(names)}" if names else "; it has no aliases"


def read_versions(
    conn: Connection, name: str, *, version: int | None = None, latest: bool = False
) -> list[ModelVersion]:
    mv = t.model_versions
    q = (
        select(mv, t.runs.c.name.label("run_name"))
        .select_from(mv.outerjoin(t.runs, t.runs.c.id == mv.c.run_id))
        .where(mv.c.name == name)
    )
    if version is not None:
        q = q.where(mv.c.version == version)
    q = q.order_by(mv.c.version.desc()).limit(1) if latest else q.order_by(mv.c.version)
    rows = conn.execute(q).mappings().all()
    pointing: dict[int, list[str]] = {}
    for a in conn.execute(
        select(t.aliases.c.alias, t.aliases.c.version)
        .where(t.aliases.c.name == name)
        .order_by(t.aliases.c.alias)
    ):
        pointing.setdefault(int(a.version), []).append(a.alias)
    return [_model_version(r, tuple(pointing.get(int(r["version"]), ()))) for r in rows]


def _model_version(row: Any, aliases: Sequence[str]) -> ModelVersion:
    return ModelVersion(
        name=row["name"],
        version=int(row["version"]),
        artifact=row["artifact"],
        run_id=row["run_id"],
        run_name=row["run_name"],
        blessed=bool(row["blessed"]),
        created_at=float(row["created_at"]),
        aliases=tuple(aliases),
        **decode_fields(row["properties"]),
    )


def alias_move(row: Any) -> AliasMove:
    return AliasMove(
        id=int(row.id),
        name=row.name,
        alias=row.alias,
        from_version=None if row.from_version is None else int(row.from_version),
        to_version=None if row.to_version is None else int(row.to_version),
        user=row.user,
        at=float(row.at),
        reason=row.reason,
    )
