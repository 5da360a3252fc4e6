"""The model registry: named models, numbered versions, aliases and their audit log.

Every write is one transaction of the metadata store, under its write lock
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL). So a version
number is taken as ``max + 1`` with no gaps and no duplicates however many
processes register at once, and an alias moves together with its audit-log
entry or not at all. A version is recorded only after its artifact's files
have been checked against their digests, and the artifact row's foreign key
keeps the files from being collected while a version points at them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.exc import IntegrityError

from ..errors import (
    ArtifactNotFoundError,
    GateRejectedError,
    ReferenceError_,
    StoreError,
    UnsafeArtifactError,
)
from ..refs import NAME_PATTERN, parse_ref
from ..store import _tables as t
from ..store.metadata import MetadataStore
from . import _queries as _q
from ._queries import current_user
from ._records import (
    AliasMove,
    ModelVersion,
    RegisteredModel,
    decode_fields,
    encode_fields,
    verdict_text,
)
from ._safety import pickled_files

if TYPE_CHECKING:
    from ..pipeline.project import Project
    from ..store.artifacts import ArtifactStore

__all__ = ["DEFAULT_ALIAS", "Registry", "current_user"]

DEFAULT_ALIAS = "production"
_NAME = re.compile(NAME_PATTERN)
_DIGEST = re.compile(r"[0-9a-f]{64}")


class Registry:
    """Named models with numbered versions and audited aliases.

    Parameters
    ----------
    project_or_store
        A :class:`~shipyard.pipeline.project.Project` (both of its stores are
        used) or a :class:`~shipyard.store.metadata.MetadataStore`.
    artifacts
        The artifact store, when ``project_or_store`` is a bare metadata store.
        Reading the registry needs none; :meth:`register` does, to check that the
        version's files exist and match their digests.
    """

    def __init__(
        self,
        project_or_store: Project | MetadataStore,
        *,
        artifacts: ArtifactStore | None = None,
    ) -> None:
        self._source = project_or_store
        self._artifacts = artifacts

    @property
    def metadata(self) -> MetadataStore:
        if isinstance(self._source, MetadataStore):
            return self._source
        return self._source.metadata

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is not None:
            return self._artifacts
        if isinstance(self._source, MetadataStore):
            raise StoreError(
                "registering a model needs the artifact store, to check the version's files:"
                " use Registry(project) or Registry(store, artifacts=...)"
            )
        return self._source.artifacts

    # -- writing ----------------------------------------------------------

    def register(
        self,
        name: str,
        artifact_digest: str,
        *,
        blessed: bool,
        force: bool = False,
        run_id: str | None = None,
        description: str = "",
        tags: Mapping[str, str | int | float | bool] | None = None,
        properties: Mapping[str, Any] | None = None,
        alias: str | None = None,
        allow_pickle: bool = False,
        user: str | None = None,
        reason: str = "",
        exist_ok: bool = False,
    ) -> ModelVersion:
        """Add the next version of model ``name``, pointing at an artifact.

        Parameters
        ----------
        name
            The model's name (created on its first version).
        artifact_digest
            The sha256 digest of a recorded artifact (``artifact:`` prefix allowed).
        blessed
            Whether the evaluation gate blessed the model.
        force
            Register even though ``blessed`` is false (recorded on the version).
        run_id
            The ID of the run that made the model.
        description, tags, properties
            Free text, labels (numbers and bools are kept as text), and JSON
            properties; by convention
            ``properties["gate"]`` holds the gate's verdict and
            ``properties["input_example"]`` an example input.
        alias
            An alias to move to the new version in the same transaction.
        allow_pickle
            The operator's opt-in to register a model whose files are pickles.
        user, reason
            Who registers (default: the login name) and, with ``alias``, why.
        exist_ok
            When a version of ``name`` already points at this artifact from this
            ``run_id``, return it (its aliases untouched) instead of adding
            another: a step that registers and is run again after a crash
            registers nothing twice.

        Returns
        -------
        ModelVersion
            The new version.

        Raises
        ------
        GateRejectedError
            ``blessed`` is false and ``force`` is not set.
        ArtifactNotFoundError
            The artifact has no row in the metadata store or no files in the
            artifact store.
        ArtifactIntegrityError
            A file of the artifact no longer matches its digest.
        UnsafeArtifactError
            The artifact holds a pickle and ``allow_pickle`` is not set.
        ReferenceError_
            A malformed name or alias, or an unknown run.
        ConfigError
            Tags or properties that are not JSON values.
        """
        _check_name(name, "model name")
        if alias is not None:
            _check_name(alias, "alias")
        if not blessed and not force:
            verdict = (properties or {}).get("gate")
            why = f" ({verdict_text(verdict)})" if verdict is not None else ""
            raise GateRejectedError(
                f"model {name!r} was not blessed by the evaluation gate{why}, so it is not"
                " registered; to register it anyway pass force=True (`force: true` under"
                " `register:` in shipyard.yaml, `--force` on the command line)"
            )
        digest = _check_digest(artifact_digest)
        user = (user or current_user())[:128]
        fields = encode_fields(
            description=description,
            tags=tags or {},
            properties=properties or {},
            forced=not blessed,
            allow_pickle=allow_pickle,
            registered_by=user,
        )
        # Hash the files before taking the write lock: checking a large model must not
        # hold up every other writer of the store.
        store = self.artifacts
        try:
            folder = store.path(digest, verify=True)
        except ArtifactNotFoundError as exc:
            raise ArtifactNotFoundError(
                f"cannot register model {name!r}: artifact {digest[:12]} has no files in the"
                f" artifact store at {store.root}"
            ) from exc
        manifest = store.manifest(digest)
        pickles = pickled_files(folder, manifest)
        now = time.time()
        with self.metadata.write() as conn:
            art = conn.execute(
                select(t.artifacts.c.unsafe).where(t.artifacts.c.digest == digest)
            ).first()
            if art is None:
                raise ArtifactNotFoundError(
                    f"cannot register model {name!r}: artifact {digest[:12]} is not recorded in"
                    " the metadata store; store it through a run or step first"
                )
            if (art.unsafe or manifest.get("unsafe") or pickles) and not allow_pickle:
                what = f"files {', '.join(pickles)} are" if pickles else "content is"
                raise UnsafeArtifactError(
                    f"cannot register model {name!r}: artifact {digest[:12]}'s {what} a pickle,"
                    " and loading a pickle can run any code; register it with allow_pickle=True"
                    " only if you trust where it came from"
                )
            run_name = None
            if run_id is not None:
                run = conn.execute(select(t.runs.c.name).where(t.runs.c.id == run_id)).first()
                if run is None:
                    raise ReferenceError_(
                        f"cannot register model {name!r}: run_id {run_id!r} names no run"
                        " (pass the full 32-digit run ID)"
                    )
                run_name = str(run.name)
            if exist_ok:
                mv = t.model_versions
                same = conn.execute(
                    select(mv.c.version)
                    .where(and_(mv.c.name == name, mv.c.artifact == digest))
                    .where(mv.c.run_id.is_(None) if run_id is None else mv.c.run_id == run_id)
                    .order_by(mv.c.version)
                    .limit(1)
                ).first()
                if same is not None:
                    existing = _q.read_versions(conn, name, version=int(same.version))
                    return existing[0]
            if not _q.model_exists(conn, name):
                conn.execute(insert(t.models).values(name=name, description="", created_at=now))
            version = 1 + int(
                conn.execute(
                    select(func.coalesce(func.max(t.model_versions.c.version), 0)).where(
                        t.model_versions.c.name == name
                    )
                ).scalar_one()
            )
            try:
                conn.execute(
                    insert(t.model_versions).values(
                        name=name,
                        version=version,
                        artifact=digest,
                        run_id=run_id,
                        blessed=bool(blessed),
                        created_at=now,
                        properties=fields,
                    )
                )
            except IntegrityError as exc:  # only a backend without a write lock gets here
                raise StoreError(
                    f"version {version} of model {name!r} was registered by another writer at"
                    " the same moment; try again"
                ) from exc
            if alias is not None:
                _q.move(conn, name, alias, version, user=user, reason=reason, at=now)
        decoded = decode_fields(fields)
        return ModelVersion(
            name=name,
            version=version,
            artifact=digest,
            run_id=run_id,
            run_name=run_name,
            blessed=bool(blessed),
            created_at=now,
            aliases=(alias,) if alias is not None else (),
            **decoded,
        )

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str = "",
        user: str | None = None,
    ) -> AliasMove:
        """Point ``alias`` of model ``name`` at ``version``; the move is logged with it.

        A move to the version the alias already points at changes nothing and
        is not logged (the returned move has ``id`` None).

        Raises
        ------
        ReferenceError_
            A malformed name or alias, an unknown model, or a version it lacks.
        """
        _check_name(name, "model name")
        _check_name(alias, "alias")
        _check_version(version)
        with self.metadata.write() as conn:
            _q.require_model(conn, name)
            _q.require_version(conn, name, version)
            return _q.move(conn, name, alias, version, user=user, reason=reason, at=time.time())

    def promote(
        self,
        name: str,
        version: int,
        alias: str = DEFAULT_ALIAS,
        *,
        reason: str = "",
        user: str | None = None,
    ) -> AliasMove:
        """Point ``alias`` (``production`` by default) at ``version``: :meth:`set_alias`."""
        return self.set_alias(name, alias, version, reason=reason, user=user)

    def rollback(
        self,
        name: str,
        alias: str = DEFAULT_ALIAS,
        *,
        reason: str = "",
        user: str | None = None,
    ) -> AliasMove:
        """Undo the last move of ``alias``: point it back where it pointed before.

        The rollback is itself a move in the log, so a second rollback undoes the
        first (as ``kubectl rollout undo`` does); to go further back, promote the
        version wanted.

        Raises
        ------
        ReferenceError_
            The alias never moved, or its last move created it (there is no
            earlier version to go back to).
        """
        _check_name(name, "model name")
        _check_name(alias, "alias")
        with self.metadata.write() as conn:
            _q.require_model(conn, name)
            last = conn.execute(
                select(t.alias_events)
                .where(and_(t.alias_events.c.name == name, t.alias_events.c.alias == alias))
                .order_by(t.alias_events.c.id.desc())
                .limit(1)
            ).first()
            if last is None:
                raise ReferenceError_(
                    f"alias {alias!r} of model {name!r} has never been set, so there is nothing"
                    f" to roll back; set it with `shipyard models promote {name} VERSION"
                    f" --alias {alias}`"
                )
            if last.from_version is None:
                raise ReferenceError_(
                    f"alias {alias!r} of model {name!r} has no earlier version to roll back to:"
                    f" its last move (#{last.id}, by {last.user}) created it at version"
                    f" {last.to_version}; move it with `shipyard models promote {name} VERSION"
                    f" --alias {alias}`"
                )
            target = int(last.from_version)
            _q.require_version(conn, name, target)
            why = f"rollback of move #{last.id}" + (f": {reason}" if reason else "")
            return _q.move(conn, name, alias, target, user=user, reason=why, at=time.time())

    def delete_alias(
        self, name: str, alias: str, *, reason: str = "", user: str | None = None
    ) -> AliasMove:
        """Remove ``alias`` of model ``name``; the removal is logged (``to_version`` None).

        Raises
        ------
        ReferenceError_
            The model has no such alias.
        """
        _check_name(name, "model name")
        _check_name(alias, "alias")
        with self.metadata.write() as conn:
            _q.require_model(conn, name)
            if _q.alias_version(conn, name, alias) is None:
                raise ReferenceError_(
                    f"model {name!r} has no alias {alias!r}{_q.known_aliases(conn, name)}"
                )
            return _q.move(conn, name, alias, None, user=user, reason=reason, at=time.time())

    # -- reading ----------------------------------------------------------

    def get(self, ref: str) -> ModelVersion:
        """The version a model reference names: ``NAME@ALIAS``, ``NAME:VERSION`` or ``NAME`` (latest).

        Raises
        ------
        ReferenceError_
            A malformed reference, a run or artifact reference, an unknown model,
            version or alias.
        """
        parsed = parse_ref(ref)
        if parsed.kind not in ("alias", "version", "model"):
            raise ReferenceError_(
                f"{ref!r} names {'a run' if parsed.kind == 'run' else 'an artifact'}, not a model"
                " version; expected NAME@ALIAS, NAME:VERSION or NAME"
            )
        with self.metadata.read() as conn:
            _q.require_model(conn, parsed.name)
            version = parsed.version
            if parsed.alias is not None:
                version = _q.alias_version(conn, parsed.name, parsed.alias)
                if version is None:
                    raise ReferenceError_(
                        f"model {parsed.name!r} has no alias {parsed.alias!r}"
                        f"{_q.known_aliases(conn, parsed.name)}"
                    )
            if version is not None:
                _q.require_version(conn, parsed.name, version)
            found = _q.read_versions(conn, parsed.name, version=version, latest=version is None)
        if not found:  # a model row whose first version never committed cannot exist; be safe
            raise ReferenceError_(f"model {parsed.name!r} has no versions")
        return found[-1]

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of model ``name``, oldest first."""
        _check_name(name, "model name")
        with self.metadata.read() as conn:
            _q.require_model(conn, name)
            return _q.read_versions(conn, name)

    def model(self, name: str) -> RegisteredModel:
        """Model ``name`` at a glance."""
        _check_name(name, "model name")
        found = self._models(name)
        if not found:
            raise ReferenceError_(
                f"no model named {name!r} is registered; `shipyard models list` shows them"
            )
        return found[0]

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, by name, with its latest version and aliases."""
        return self._models(None)

    def history(
        self, name: str, alias: str | None = None, *, limit: int | None = None
    ) -> list[AliasMove]:
        """The audit log of the aliases of model ``name`` (one alias if given), oldest first.

        ``limit`` keeps the newest entries only.
        """
        _check_name(name, "model name")
        if alias is not None:
            _check_name(alias, "alias")
        q = select(t.alias_events).where(t.alias_events.c.name == name)
        if alias is not None:
            q = q.where(t.alias_events.c.alias == alias)
        q = q.order_by(t.alias_events.c.id.desc())
        if limit is not None:
            q = q.limit(limit)
        with self.metadata.read() as conn:
            _q.require_model(conn, name)
            rows = conn.execute(q).all()
        return [_q.alias_move(r) for r in reversed(rows)]

    def _models(self, name: str | None) -> list[RegisteredModel]:
        mv = t.model_versions
        stats = select(
            mv.c.name,
            func.max(mv.c.version).label("latest"),
            func.count().label("n"),
            func.max(mv.c.created_at).label("updated"),
        ).group_by(mv.c.name)
        models = select(t.models).order_by(t.models.c.name)
        aliases = select(t.aliases).order_by(t.aliases.c.alias)
        if name is not None:
            stats = stats.where(mv.c.name == name)
            models = models.where(t.models.c.name == name)
            aliases = aliases.where(t.aliases.c.name == name)
        with self.metadata.read() as conn:
            by_name = {r.name: r for r in conn.execute(stats)}
            alias_map: dict[str, dict[str, int]] = {}
            for a in conn.execute(aliases):
                alias_map.setdefault(a.name, {})[a.alias] = int(a.version)
            rows = conn.execute(models).all()
        out = []
        for r in rows:
            s = by_name.get(r.name)
            out.append(
                RegisteredModel(
                    name=r.name,
                    description=r.description,
                    created_at=float(r.created_at),
                    latest_version=int(s.latest) if s is not None else None,
                    num_versions=int(s.n) if s is not None else 0,
                    updated_at=float(s.updated) if s is not None else None,
                    aliases=alias_map.get(r.name, {}),
                )
            )
        return out


# -- argument checks --------------------------------------------------------


def _check_name(value: object, what: str) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ReferenceError_(
            f"{what} {value!r} must be 1-128 letters, digits, '_', '-' or '.', starting with a"
            " letter or digit"
        )


def _check_version(version: object) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ReferenceError_(f"version {version!r} must be a positive integer")


def _check_digest(value: object) -> str:
    text = (
        value[len("artifact:") :]
        if isinstance(value, str) and value.startswith("artifact:")
        else value
    )
    if not isinstance(text, str) or not _DIGEST.fullmatch(text):
        raise ReferenceError_(
            f"artifact digest {value!r} must be the 64 lowercase hex digits of a sha256"
            " (optionally prefixed with 'artifact:')"
        )
    return text
