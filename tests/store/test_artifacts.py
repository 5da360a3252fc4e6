"""One conformance suite for every artifact store backend (local folder, fsspec memory://)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.errors import ArtifactIntegrityError, ArtifactNotFoundError, StoreError
from shipyard.store.artifacts import (
    ArtifactStore,
    FsspecArtifactStore,
    LocalArtifactStore,
    open_artifact_store,
)


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield LocalArtifactStore(tmp_path / "arts")
    else:
        url = f"memory://test-{uuid.uuid4().hex}"
        yield FsspecArtifactStore(url, tmp_path / "cache")


def _put(store: ArtifactStore, files: dict[str, bytes], kind: str = "blob") -> str:
    with store.staging() as folder:
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        return store.put(folder, {"type": kind}).digest


def test_round_trip_and_content_addressing(store: ArtifactStore) -> None:
    d1 = _put(store, {"a.txt": b"hello", "sub/b.bin": b"\x00\x01"})
    d2 = _put(store, {"a.txt": b"hello", "sub/b.bin": b"\x00\x01"})
    assert d1 == d2 and len(d1) == 64
    folder = store.path(d1)
    assert (folder / "a.txt").read_bytes() == b"hello"
    assert (folder / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    assert store.exists(d1)
    assert list(store.digests()) == [d1]
    assert store.manifest(d1)["files"]["a.txt"]["size"] == 5


def test_type_is_part_of_the_digest(store: ArtifactStore) -> None:
    assert _put(store, {"v": b"1"}, "json") != _put(store, {"v": b"1"}, "text")


def test_delete(store: ArtifactStore) -> None:
    d = _put(store, {"x": b"1"})
    store.delete(d)
    assert not store.exists(d)
    with pytest.raises(ArtifactNotFoundError):
        store.path(d)


def test_unknown_and_malformed_digests(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFoundError, match="not in the store"):
        store.path("0" * 64)
    with pytest.raises(ArtifactNotFoundError, match="not a sha256"):
        store.path("../../etc/passwd")


def test_local_detects_a_changed_file(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    d = _put(store, {"model.json": b'{"w": 1}'})
    target = store.path(d) / "model.json"
    target.chmod(0o644)
    target.write_bytes(b'{"w": 2}')
    fresh = LocalArtifactStore(tmp_path / "arts")  # a new process has verified nothing yet
    with pytest.raises(ArtifactIntegrityError, match="model.json does not match"):
        fresh.path(d)


def test_local_detects_a_changed_manifest(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    d = _put(store, {"x": b"1"})
    manifest = store.path(d) / "_manifest.json"
    data = json.loads(manifest.read_text())
    data["type"] = "pickle"
    manifest.chmod(0o644)
    manifest.write_text(json.dumps(data))
    with pytest.raises(ArtifactIntegrityError, match="manifest was changed"):
        LocalArtifactStore(tmp_path / "arts").path(d)


def test_stored_files_are_read_only(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    d = _put(store, {"x": b"1"})
    assert (store.path(d) / "x").stat().st_mode & 0o222 == 0


def test_symlinks_are_refused(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    secret = tmp_path / "secret"
    secret.write_text("s")
    with store.staging() as folder, pytest.raises(StoreError, match="symlink"):
        (folder / "link").symlink_to(secret)
        store.put(folder, {"type": "blob"})


def test_staging_of_dead_processes_is_cleaned(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    stale = tmp_path / "arts" / ".tmp" / "999999999-deadbeef"
    stale.mkdir(parents=True)
    (stale / "half.parquet").write_bytes(b"partial")
    assert store.clean_staging() == 1
    assert not stale.exists()


def test_memory_store_verifies_downloads(tmp_path: Path) -> None:
    url = f"memory://t-{uuid.uuid4().hex}"
    store = FsspecArtifactStore(url, tmp_path / "cache")
    d = _put(store, {"x": b"original"})
    key = store._key(d)
    store.fs.pipe_file(f"{key}/x", b"tampered")
    with pytest.raises(ArtifactIntegrityError):
        FsspecArtifactStore(url, tmp_path / "cache2").path(d)


def test_open_artifact_store_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_artifact_store(tmp_path), LocalArtifactStore)
    assert isinstance(open_artifact_store(f"file://{tmp_path}"), LocalArtifactStore)
    assert isinstance(open_artifact_store("memory://x", tmp_path / "c"), FsspecArtifactStore)
