"""The artifact store: immutable, content-addressed folders of files.

An artifact is a folder of files plus ``_manifest.json``, which names the
artifact's type and the sha256 and size of every file. The artifact's digest
is the sha256 of that manifest, so it covers the bytes and the type at once.

Writes are atomic. The local store builds the folder under ``.tmp/``, fsyncs
every file, then renames it into ``objects/`` (a crash leaves nothing half
written in ``objects/``, only a stale staging folder that :meth:`clean_staging`
removes). The fsspec store uploads the files first and the manifest last: an
artifact without its manifest does not exist. Digests are checked when an
artifact is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import ArtifactIntegrityError, ArtifactNotFoundError, StoreError

__all__ = [
    "ArtifactStore",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "StoredArtifact",
    "open_artifact_store",
    "MANIFEST",
]

MANIFEST = "_manifest.json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredArtifact:
    """What the store knows of one artifact once it is written."""

    digest: str
    uri: str
    size: int  # bytes of the files, manifest excluded
    manifest: dict[str, Any]


class ArtifactStore(Protocol):
    """The interface every artifact backend implements."""

    root: str

    def staging(self) -> contextlib.AbstractContextManager[Path]:
        """A fresh local folder to write an artifact's files into before :meth:`put`."""
        ...

    def put(self, folder: Path, meta: dict[str, Any]) -> StoredArtifact:
        """Store the files of ``folder`` with ``meta`` (type, python_type, properties)."""
        ...

    def path(self, digest: str, *, verify: bool = True) -> Path:
        """A local folder holding the artifact's files, checked against its manifest."""
        ...

    def manifest(self, digest: str) -> dict[str, Any]: ...

    def exists(self, digest: str) -> bool: ...

    def delete(self, digest: str) -> None: ...

    def digests(self) -> Iterator[str]: ...

    def uri(self, digest: str) -> str: ...

    def clean_staging(self) -> int:
        """Remove staging folders of processes that died; return how many."""
        ...


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def build_manifest(folder: Path, meta: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
    """Hash every file under ``folder``; return ``(digest, manifest, total_size)``."""
    files: dict[str, dict[str, Any]] = {}
    total = 0
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            raise StoreError(f"artifact files may not be symlinks: {p.relative_to(folder)}")
        if p.is_file():
            rel = p.relative_to(folder).as_posix()
            if rel == MANIFEST:
                continue
            size = p.stat().st_size
            files[rel] = {"sha256": file_sha256(p), "size": size}
            total += size
    manifest = {"format": 1, **meta, "files": files}
    digest = hashlib.sha256(_canonical(manifest)).hexdigest()
    return digest, manifest, total


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def _check_digest(digest: str) -> str:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ArtifactNotFoundError(f"{digest!r} is not a sha256 digest (64 lowercase hex digits)")
    return digest


def verify_folder(folder: Path, digest: str) -> dict[str, Any]:
    """Check a folder against its manifest and the manifest against ``digest``."""
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
    except (OSError, ValueError) as exc:
        raise ArtifactIntegrityError(f"artifact {digest[:12]}: unreadable manifest: {exc}") from exc
    if hashlib.sha256(_canonical(manifest)).hexdigest() != digest:
        raise ArtifactIntegrityError(f"artifact {digest[:12]}: its manifest was changed")
    for rel, info in manifest["files"].items():
        p = folder / rel
        if not p.is_file() or p.is_symlink():
            raise ArtifactIntegrityError(f"artifact {digest[:12]}: file {rel} is missing")
        if p.stat().st_size != info["size"] or file_sha256(p) != info["sha256"]:
            raise ArtifactIntegrityError(
                f"artifact {digest[:12]}: file {rel} does not match its recorded sha256"
                " (it was changed after it was stored)"
            )
    return dict(manifest)


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_read_only(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalArtifactStore:
    """Artifacts under a local folder: ``objects/<d[:2]>/<digest>/``."""

    def __init__(self, root: Path | str) -> None:
        self.base = Path(root).expanduser().resolve()
        self.root = str(self.base)
        self._objects = self.base / "objects"
        self._tmp = self.base / ".tmp"
        self._verified: set[str] = set()

    @property
    def staging_root(self) -> Path:
        """Where staging folders live; a step's scratch space goes here too."""
        return self._tmp

    def _dir(self, digest: str) -> Path:
        _check_digest(digest)
        return self._objects / digest[:2] / digest

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        self._tmp.mkdir(parents=True, exist_ok=True)
        folder = self._tmp / f"{os.getpid()}-{uuid.uuid4().hex}"
        folder.mkdir()
        try:
            yield folder
        finally:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)

    def put(self, folder: Path, meta: dict[str, Any]) -> StoredArtifact:
        digest, manifest, size = build_manifest(folder, meta)
        final = self._dir(digest)
        if final.exists():
            return StoredArtifact(digest, self.uri(digest), size, manifest)
        (folder / MANIFEST).write_bytes(_canonical(manifest))
        _make_read_only(folder)
        _fsync_tree(folder)
        final.parent.mkdir(parents=True, exist_ok=True)
        src = folder
        if folder.parent != self._tmp:  # rename only within one filesystem: stage a copy
            src = self._tmp / f"{os.getpid()}-{uuid.uuid4().hex}"
            shutil.copytree(folder, src)
        try:
            os.rename(src, final)
        except OSError:
            if not final.exists():  # another writer won the race with the same bytes: fine
                raise
            shutil.rmtree(src, ignore_errors=True)
        _fsync_dir(final.parent)
        self._verified.add(digest)
        return StoredArtifact(digest, self.uri(digest), size, manifest)

    def path(self, digest: str, *, verify: bool = True) -> Path:
        folder = self._dir(digest)
        if not (folder / MANIFEST).is_file():
            raise ArtifactNotFoundError(
                f"artifact {digest[:12]} is not in the store at {self.root}"
            )
        if verify and digest not in self._verified:
            verify_folder(folder, digest)
            self._verified.add(digest)
        return folder

    def manifest(self, digest: str) -> dict[str, Any]:
        folder = self.path(digest, verify=False)
        return dict(json.loads((folder / MANIFEST).read_bytes()))

    def exists(self, digest: str) -> bool:
        return (self._dir(digest) / MANIFEST).is_file()

    def delete(self, digest: str) -> None:
        folder = self._dir(digest)
        if folder.exists():
            # Rename first so that no reader ever sees a half-deleted artifact.
            doomed = self._tmp / f"{os.getpid()}-del-{uuid.uuid4().hex}"
            self._tmp.mkdir(parents=True, exist_ok=True)
            os.rename(folder, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
        self._verified.discard(digest)

    def digests(self) -> Iterator[str]:
        if not self._objects.exists():
            return
        for sub in sorted(self._objects.iterdir()):
            for d in sorted(sub.iterdir()):
                if (d / MANIFEST).is_file():
                    yield d.name

    def uri(self, digest: str) -> str:
        return self._dir(digest).as_uri()

    def clean_staging(self) -> int:
        """Remove staging folders left by processes that died; return how many."""
        removed = 0
        if not self._tmp.exists():
            return 0
        for entry in self._tmp.iterdir():
            pid = entry.name.split("-", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed


class FsspecArtifactStore:
    """Artifacts on any fsspec filesystem (``s3://``, ``gs://``, ``memory://`` ...).

    Object stores have no atomic rename of a folder, so the manifest is the
    commit point: it is uploaded last, and an artifact exists only once its
    manifest does. Reads download into a local cache and verify there.
    """

    def __init__(self, url: str, cache_dir: Path | str) -> None:
        import fsspec

        self.fs, path = fsspec.core.url_to_fs(url)
        self.root = url.rstrip("/")
        self._base = path.rstrip("/")
        self._cache = LocalArtifactStore(cache_dir)

    def _key(self, digest: str) -> str:
        _check_digest(digest)
        return f"{self._base}/objects/{digest[:2]}/{digest}"

    def staging(self) -> contextlib.AbstractContextManager[Path]:
        return self._cache.staging()

    @property
    def staging_root(self) -> Path:
        return self._cache.staging_root

    def put(self, folder: Path, meta: dict[str, Any]) -> StoredArtifact:
        digest, manifest, size = build_manifest(folder, meta)
        key = self._key(digest)
        if not self.exists(digest):
            for rel in manifest["files"]:
                self.fs.makedirs(f"{key}/{rel}".rsplit("/", 1)[0], exist_ok=True)
                self.fs.put_file(str(folder / rel), f"{key}/{rel}")
            self.fs.pipe_file(f"{key}/{MANIFEST}", _canonical(manifest))
        return StoredArtifact(digest, self.uri(digest), size, manifest)

    def path(self, digest: str, *, verify: bool = True) -> Path:
        if self._cache.exists(digest):
            return self._cache.path(digest, verify=verify)
        if not self.exists(digest):
            raise ArtifactNotFoundError(
                f"artifact {digest[:12]} is not in the store at {self.root}"
            )
        key = self._key(digest)
        manifest = json.loads(self.fs.cat_file(f"{key}/{MANIFEST}"))
        with self._cache.staging() as folder:
            for rel in manifest["files"]:
                target = folder / rel
                if ".." in Path(rel).parts or Path(rel).is_absolute():
                    raise ArtifactIntegrityError(f"artifact {digest[:12]}: bad file name {rel!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(f"{key}/{rel}", str(target))
            meta = {k: v for k, v in manifest.items() if k not in ("files", "format")}
            stored = self._cache.put(folder, meta)
        if stored.digest != digest:
            self._cache.delete(stored.digest)
            raise ArtifactIntegrityError(
                f"artifact {digest[:12]}: downloaded files do not match the recorded digest"
            )
        return self._cache.path(digest, verify=False)

    def manifest(self, digest: str) -> dict[str, Any]:
        if not self.exists(digest):
            raise ArtifactNotFoundError(
                f"artifact {digest[:12]} is not in the store at {self.root}"
            )
        return dict(json.loads(self.fs.cat_file(f"{self._key(digest)}/{MANIFEST}")))

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(f"{self._key(digest)}/{MANIFEST}"))

    def delete(self, digest: str) -> None:
        key = self._key(digest)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(f"{key}/{MANIFEST}")  # un-commit first
            self.fs.rm(key, recursive=True)
        self._cache.delete(digest)

    def digests(self) -> Iterator[str]:
        pattern = f"{self._base}/objects/*/*/{MANIFEST}"
        for p in sorted(self.fs.glob(pattern)):
            yield str(p).rstrip("/").split("/")[-2]

    def uri(self, digest: str) -> str:
        key = self._key(digest)
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{key.lstrip('/')}"

    def clean_staging(self) -> int:
        return self._cache.clean_staging()


def open_artifact_store(location: str | Path, cache_dir: Path | None = None) -> ArtifactStore:
    """A local store for a path or ``file://`` URL, an fsspec store for any other URL."""
    text = str(location)
    if "://" not in text or text.startswith("file://"):
        return LocalArtifactStore(text.removeprefix("file://"))
    if cache_dir is None:
        raise StoreError(
            f"artifact store {text}: a local cache folder is needed for a remote store"
        )
    return FsspecArtifactStore(text, cache_dir)
