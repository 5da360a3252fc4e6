"""The monitor's rows in the metadata store: windows (with their cursor) and their reports."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import insert, select, update

from ..store import _tables as t

__all__ = ["last_cursor", "list_windows", "store_window", "update_metrics"]


def last_cursor(metadata: Any, model: str, ref: str) -> dict[str, Any]:
    """Where the next window of ``ref`` starts: the cursor of its newest window ({} if none)."""
    w = t.monitor_windows
    with metadata.read() as conn:
        row = conn.execute(
            select(w.c.cursor)
            .where(w.c.model == model, w.c.ref == ref)
            .order_by(w.c.id.desc())
            .limit(1)
        ).first()
    return dict(json.loads(row.cursor)) if row is not None else {}


def store_window(
    metadata: Any,
    *,
    model: str,
    ref: str,
    versions: list[str],
    start: float,
    end: float,
    rows: int,
    metrics: dict[str, Any],
    cursor: dict[str, Any],
    previous: dict[str, Any],
    artifact: dict[str, Any] | None,
) -> int | None:
    """Insert a window row (and its report's artifact row) in one transaction.

    Returns None, storing nothing, when another monitor stored a window of
    ``ref`` since ``previous`` was read: the same rows are never reported twice.
    """
    w = t.monitor_windows
    with metadata.write() as conn:
        row = conn.execute(
            select(w.c.cursor)
            .where(w.c.model == model, w.c.ref == ref)
            .order_by(w.c.id.desc())
            .limit(1)
        ).first()
        if (dict(json.loads(row.cursor)) if row is not None else {}) != previous:
            return None
        if artifact is not None:
            metadata.record_artifact(conn, artifact)
        result = conn.execute(
            insert(w).values(
                model=model,
                ref=ref,
                versions=json.dumps(versions),
                start=start,
                end=end,
                rows=rows,
                report=artifact["digest"] if artifact is not None else None,
                metrics=json.dumps(metrics, sort_keys=True, allow_nan=False),
                cursor=json.dumps(cursor, sort_keys=True),
                created_at=time.time(),
            )
        )
        key = result.inserted_primary_key
        return int(key[0]) if key is not None else None


def list_windows(
    metadata: Any, model: str, ref: str | None = None, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """Stored windows of ``model`` (one ``ref`` if given), oldest first; JSON fields decoded."""
    w = t.monitor_windows
    q = select(w).where(w.c.model == model)
    if ref is not None:
        q = q.where(w.c.ref == ref)
    q = q.order_by(w.c.id.desc())
    if limit is not None:
        q = q.limit(limit)
    with metadata.read() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
    for r in rows:
        r["metrics"] = json.loads(r["metrics"])
        r["versions"] = json.loads(r["versions"])
        r["cursor"] = json.loads(r["cursor"])
    return list(reversed(rows))


def update_metrics(metadata: Any, window_id: int, metrics: dict[str, Any]) -> None:
    """Replace a window's metrics (labels that arrived later)."""
    w = t.monitor_windows
    with metadata.write() as conn:
        conn.execute(
            update(w)
            .where(w.c.id == window_id)
            .values(metrics=json.dumps(metrics, sort_keys=True, allow_nan=False))
        )
