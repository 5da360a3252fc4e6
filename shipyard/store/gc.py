"""Garbage collection: delete artifacts nothing refers to, after a retention period."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .artifacts import ArtifactStore
from .metadata import MetadataStore

__all__ = ["GcReport", "collect_garbage"]


@dataclass
class GcReport:
    """What :func:`collect_garbage` removed, or would remove with ``dry_run``."""

    deleted: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    kept_recent: int = 0
    staging_removed: int = 0


def collect_garbage(
    metadata: MetadataStore,
    artifacts: ArtifactStore,
    *,
    retention_days: float,
    dry_run: bool = False,
) -> GcReport:
    """Delete artifacts no execution or model version references, older than ``retention_days``.

    Also removes stored folders with no metadata row at all (left by a crash
    between writing an artifact and recording it) and staging folders of dead
    processes. The row is deleted before the files, so a crash in between
    leaves an orphan folder that the next gc removes, never a row without files.
    """
    report = GcReport()
    cutoff = time.time() - retention_days * 86400
    used = metadata.referenced_digests()
    rows = {r["digest"]: r for r in metadata.artifact_rows()}
    doomed: list[tuple[str, int]] = []
    for digest, row in rows.items():
        if digest in used:
            continue
        if row["created_at"] > cutoff:
            report.kept_recent += 1
            continue
        doomed.append((digest, int(row["size"])))
    for digest in artifacts.digests():
        if digest in rows:
            continue
        manifest_time = _created(artifacts, digest)
        if manifest_time is None or manifest_time > cutoff:  # unknown age: keep
            report.kept_recent += 1
            continue
        doomed.append((digest, 0))
    report.deleted = [d for d, _ in doomed]
    report.freed_bytes = sum(s for _, s in doomed)
    if dry_run:
        return report
    metadata.delete_artifacts([d for d, _ in doomed if d in rows])
    for digest, _ in doomed:
        artifacts.delete(digest)
    report.staging_removed = artifacts.clean_staging()
    return report


def _created(artifacts: ArtifactStore, digest: str) -> float | None:
    """When a stored folder was written, for local stores (None when unknown)."""
    from pathlib import Path

    uri = artifacts.uri(digest)
    if uri.startswith("file://"):
        try:
            return (Path(uri[7:]) / "_manifest.json").stat().st_mtime
        except OSError:
            return None
    return None
