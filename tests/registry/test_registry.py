"""The registry on a real store: versions, aliases, rollback, the audit log, and refusals.

Tests taking ``registry`` run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import getpass
import os
import pickle
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ConfigError,
    GateRejectedError,
    ReferenceError_,
    StoreError,
    UnsafeArtifactError,
)
from shipyard.pipeline.materializers import save_value
from shipyard.registry import AliasMove, Registry
from shipyard.store.artifacts import LocalArtifactStore
from shipyard.store.metadata import MetadataStore


def stored(metadata: MetadataStore, artifacts: Any, value: Any, **kwargs: Any) -> str:
    """Store ``value`` as an artifact with its metadata row, as a step would; return its digest."""
    info = save_value(value, artifacts, **kwargs)
    with metadata.write() as conn:
        metadata.record_artifact(conn, info)
    return str(info["digest"])


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_store_url"))
    return f"sqlite:///{tmp_path / 'meta.db'}"


@pytest.fixture
def metadata(store_url: str) -> Iterator[MetadataStore]:
    store = MetadataStore(store_url)
    yield store
    store.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def registry(metadata: MetadataStore, artifacts: LocalArtifactStore) -> Registry:
    return Registry(metadata, artifacts=artifacts)


class Opaque:
    """A type no safe materializer takes: only pickle can store it."""


def _model(registry: Registry, n: int = 3, name: str = "churn") -> list[int]:
    """Register ``n`` blessed versions of ``name``; return their numbers."""
    store, arts = registry.metadata, registry.artifacts
    return [
        registry.register(name, stored(store, arts, {"w": i}), blessed=True).version
        for i in range(n)
    ]


def _chain_ok(moves: list[AliasMove]) -> bool:
    """Each move starts where the one before it (of the same alias) ended."""
    last: dict[str, int | None] = {}
    for m in moves:
        if m.from_version != last.get(m.alias):
            return False
        last[m.alias] = m.to_version
    return True


def test_versions_are_numbered_and_carry_their_fields(registry: Registry) -> None:
    store, arts = registry.metadata, registry.artifacts
    run_id, _ = store.create_run(pipeline="train", source="p.py:train", seed=0, params={})
    digest = stored(store, arts, {"weights": [1, 2, 3]})
    verdict = {"passed": True, "summary": "roc_auc 0.81 >= 0.70"}
    v1 = registry.register(
        "churn",
        digest,
        blessed=True,
        run_id=run_id,
        description="first model",
        tags={"team": "risk", "epochs": 3},
        properties={"gate": verdict, "input_example": {"age": 41, "plan": "pro"}},
    )
    v2 = registry.register("churn", "artifact:" + stored(store, arts, {"w": 2}), blessed=True)
    assert (v1.version, v2.version) == (1, 2)
    got = registry.get("churn:1")
    assert got == v1
    assert got.ref == "churn:1" and got.artifact == digest
    assert got.run_id == run_id and got.run_name == "train-1"
    assert got.description == "first model" and got.tags == {"team": "risk", "epochs": "3"}
    assert got.verdict == verdict and got.properties["input_example"] == {"age": 41, "plan": "pro"}
    assert got.blessed and not got.forced and not got.allow_pickle
    assert got.registered_by == getpass.getuser()
    assert registry.get("churn").version == 2  # NAME is the latest version
    assert [v.version for v in registry.versions("churn")] == [1, 2]
    [m] = registry.list_models()
    assert (m.name, m.latest_version, m.num_versions, dict(m.aliases)) == ("churn", 2, 2, {})
    # The version is what the store's own resolver (lineage, load_artifact) finds too.
    assert store.resolve_model_version("churn", version=1, alias=None)["artifact"] == digest


def test_an_unblessed_model_is_refused_unless_forced(registry: Registry) -> None:
    digest = stored(registry.metadata, registry.artifacts, {"w": 0})
    before = registry.metadata.counts()
    with pytest.raises(GateRejectedError, match=r"not blessed.*force=True.*--force"):
        registry.register("churn", digest, blessed=False)
    verdict = {"passed": False, "reasons": ["roc_auc 0.61 < 0.70"]}
    with pytest.raises(GateRejectedError, match=r"gate \(rejected: roc_auc 0.61 < 0.70\)"):
        registry.register("churn", digest, blessed=False, properties={"gate": verdict})
    assert registry.metadata.counts() == before
    v = registry.register("churn", digest, blessed=False, force=True)
    assert (v.version, v.blessed, v.forced) == (1, False, True)
    assert registry.get("churn:1").forced


def test_an_artifact_without_its_row_or_its_files_is_refused(
    registry: Registry, metadata: MetadataStore, artifacts: LocalArtifactStore
) -> None:
    # Files but no row: written by a process that died before recording it.
    orphan = save_value({"orphan": True}, artifacts)["digest"]
    before = metadata.counts()
    with pytest.raises(ArtifactNotFoundError, match="not recorded in the metadata store"):
        registry.register("churn", orphan, blessed=True)
    # A row but no files: removed behind the store's back.
    digest = stored(metadata, artifacts, {"w": 1})
    gone = Path(artifacts.uri(digest)[len("file://") :])
    os.chmod(gone, stat.S_IRWXU)
    os.rename(gone, gone.with_name("elsewhere"))
    before = metadata.counts()
    with pytest.raises(ArtifactNotFoundError, match="no files in the artifact store"):
        registry.register("churn", digest, blessed=True)
    with pytest.raises(ArtifactNotFoundError):
        registry.register("churn", "0" * 64, blessed=True)
    with pytest.raises(ReferenceError_, match="64 lowercase hex"):
        registry.register("churn", "abc123", blessed=True)
    assert metadata.counts() == before


def test_a_changed_file_is_refused_with_its_name(
    registry: Registry, metadata: MetadataStore, artifacts: LocalArtifactStore, tmp_path: Path
) -> None:
    (tmp_path / "model.json").write_text('{"trees": []}')
    digest = stored(metadata, artifacts, tmp_path / "model.json")
    target = Path(artifacts.uri(digest)[len("file://") :]) / "file" / "model.json"
    target.chmod(0o644)
    target.write_text('{"trees": [1]}')
    fresh = Registry(metadata, artifacts=LocalArtifactStore(artifacts.root))  # no verified cache
    with pytest.raises(ArtifactIntegrityError, match="model.json"):
        fresh.register("churn", digest, blessed=True)


def test_pickles_are_refused_unless_allowed(
    registry: Registry, metadata: MetadataStore, artifacts: LocalArtifactStore, tmp_path: Path
) -> None:
    flagged = stored(metadata, artifacts, Opaque(), allow_pickle=True)
    with pytest.raises(UnsafeArtifactError, match="allow_pickle=True"):
        registry.register("churn", flagged, blessed=True)
    # A pickle inside an innocent-looking folder is caught by its bytes, whatever its name.
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(pickle.dumps({"w": 1}, protocol=4))
    (folder / "config.json").write_text("{}")
    hidden = stored(metadata, artifacts, folder)
    with pytest.raises(UnsafeArtifactError, match="dir/weights.bin"):
        registry.register("churn", hidden, blessed=True)
    assert metadata.counts()["model_versions"] == 0
    v = registry.register("churn", hidden, blessed=True, allow_pickle=True)
    assert registry.get(v.ref).allow_pickle


def test_promote_rollback_and_the_audit_log(registry: Registry) -> None:
    _model(registry, 3)
    first = registry.promote("churn", 1, user="ana", reason="first release")
    assert (first.from_version, first.to_version, first.user) == (None, 1, "ana")
    registry.promote("churn", 2)
    registry.promote("churn", 3, reason="better auc")
    assert registry.get("churn@production").version == 3
    back = registry.rollback("churn", reason="latency regression")
    assert (back.from_version, back.to_version) == (3, 2)
    assert back.reason == "rollback of move #3: latency regression"
    assert registry.get("churn@production").version == 2
    # A rollback is a move too: rolling back again undoes it.
    assert registry.rollback("churn").to_version == 3
    log = registry.history("churn", "production")
    assert [(m.from_version, m.to_version) for m in log] == [
        (None, 1),
        (1, 2),
        (2, 3),
        (3, 2),
        (2, 3),
    ]
    assert _chain_ok(log)
    assert log[0].user == "ana" and log[1].user == getpass.getuser()
    assert [m.id for m in registry.history("churn", limit=2)] == [log[-2].id, log[-1].id]
    assert registry.get("churn:3").aliases == ("production",)


def test_moves_that_change_nothing_are_not_logged(registry: Registry) -> None:
    _model(registry, 2)
    registry.promote("churn", 2)
    again = registry.promote("churn", 2)
    assert again.id is None and not again.changed
    assert len(registry.history("churn")) == 1


def test_rollback_needs_an_earlier_version(registry: Registry) -> None:
    _model(registry, 2)
    with pytest.raises(ReferenceError_, match="never been set"):
        registry.rollback("churn")
    registry.promote("churn", 1)
    with pytest.raises(ReferenceError_, match="no earlier version to roll back to"):
        registry.rollback("churn")
    assert registry.get("churn@production").version == 1


def test_aliases_are_independent_and_deletion_is_logged_and_undoable(registry: Registry) -> None:
    _model(registry, 2)
    registry.set_alias("churn", "staging", 2)
    registry.promote("churn", 1)
    assert registry.model("churn").aliases == {"production": 1, "staging": 2}
    gone = registry.delete_alias("churn", "staging", reason="retired")
    assert (gone.from_version, gone.to_version) == (2, None)
    with pytest.raises(ReferenceError_, match="no alias 'staging'; its aliases: production"):
        registry.get("churn@staging")
    with pytest.raises(ReferenceError_, match="no alias 'staging'"):
        registry.delete_alias("churn", "staging")
    assert registry.rollback("churn", "staging").to_version == 2
    assert registry.get("churn@staging").version == 2
    assert _chain_ok(registry.history("churn"))


def test_register_can_move_an_alias_in_the_same_transaction(registry: Registry) -> None:
    store, arts = registry.metadata, registry.artifacts
    v = registry.register(
        "churn", stored(store, arts, {"w": 1}), blessed=True, alias="production", reason="auto"
    )
    assert v.aliases == ("production",)
    [move] = registry.history("churn")
    assert (move.to_version, move.reason) == (1, "auto")


def test_exist_ok_returns_the_version_a_rerun_already_registered(registry: Registry) -> None:
    store, arts = registry.metadata, registry.artifacts
    run_id, _ = store.create_run(pipeline="train", source="p.py:train", seed=0, params={})
    digest = stored(store, arts, {"w": 1})
    first = registry.register("churn", digest, blessed=True, run_id=run_id, alias="production")
    again = registry.register(
        "churn", digest, blessed=True, run_id=run_id, alias="production", exist_ok=True
    )
    assert again.version == first.version == 1 and again.aliases == ("production",)
    assert len(registry.history("churn")) == 1
    # Another run, or no exist_ok, makes a new version of the same artifact.
    assert registry.register("churn", digest, blessed=True, exist_ok=True).version == 2
    assert registry.register("churn", digest, blessed=True, run_id=run_id).version == 3


def test_unknown_models_versions_and_bad_names_are_reference_errors(registry: Registry) -> None:
    _model(registry, 2)
    with pytest.raises(ReferenceError_, match="no model named 'nope'"):
        registry.get("nope")
    with pytest.raises(ReferenceError_, match="no model named 'nope'"):
        registry.versions("nope")
    with pytest.raises(ReferenceError_, match="no model named 'nope'"):
        registry.promote("nope", 1)
    with pytest.raises(ReferenceError_, match="has no version 7; its versions are 1 to 2"):
        registry.promote("churn", 7)
    with pytest.raises(ReferenceError_, match="has no version 9"):
        registry.get("churn:9")
    with pytest.raises(ReferenceError_, match="names a run"):
        registry.get("run:abcd1234")
    for bad in ("../etc", "a b", "", "-x", "x" * 129, "churn;rm"):
        with pytest.raises(ReferenceError_):
            registry.promote(bad, 1)
    with pytest.raises(ReferenceError_, match="alias"):
        registry.promote("churn", 1, alias="prod/../x")
    with pytest.raises(ReferenceError_, match="positive integer"):
        registry.promote("churn", 0)
    digest = stored(registry.metadata, registry.artifacts, {"w": 9})
    with pytest.raises(ReferenceError_, match="model name '../x'"):
        registry.register("../x", digest, blessed=True)
    with pytest.raises(ReferenceError_, match="names no run"):
        registry.register("churn", digest, blessed=True, run_id="f" * 32)
    assert len(registry.versions("churn")) == 2


def test_tags_and_properties_must_be_json(registry: Registry) -> None:
    digest = stored(registry.metadata, registry.artifacts, {"w": 1})
    with pytest.raises(ConfigError, match="field 'properties'.*JSON"):
        registry.register("churn", digest, blessed=True, properties={"x": object()})
    with pytest.raises(ConfigError, match="field 'properties'"):
        registry.register("churn", digest, blessed=True, properties={"auc": float("nan")})
    with pytest.raises(ConfigError, match="field 'tags'"):
        registry.register("churn", digest, blessed=True, tags={"k": ["list"]})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="over the limit"):
        registry.register("churn", digest, blessed=True, properties={"x": "y" * (1 << 20)})
    assert registry.list_models() == []


def test_a_bare_metadata_store_reads_but_cannot_register(
    registry: Registry, metadata: MetadataStore
) -> None:
    _model(registry, 1)
    bare = Registry(metadata)
    assert bare.get("churn").version == 1
    with pytest.raises(StoreError, match="needs the artifact store"):
        bare.register("churn", bare.get("churn").artifact, blessed=True)
