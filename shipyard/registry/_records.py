"""What the registry hands back: model versions, alias moves and model summaries.

A version's free-form fields (description, tags, properties, who registered it,
whether it was forced in or may hold a pickle) live together in the one JSON
column ``model_versions.properties``; :func:`encode_fields` and
:func:`decode_fields` are the only code that knows its layout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["AliasMove", "ModelVersion", "RegisteredModel", "verdict_text"]

# Properties hold an input example and a gate verdict, not data: bigger belongs in an artifact.
MAX_PROPERTIES_BYTES = 1 << 20
MAX_TAGS = 64


@dataclass(frozen=True)
class ModelVersion:
    """One numbered version of a registered model.

    Attributes
    ----------
    name, version
        The model and its version number (1, 2, ... in order of registration).
    artifact
        Digest of the artifact this version points to.
    run_id, run_name
        The run that produced it, when known.
    blessed
        Whether the evaluation gate blessed it; ``forced`` tells that an unblessed
        model was registered with ``force=True``.
    created_at, registered_by
        When and by whom it was registered.
    description, tags, properties
        Free text, string labels, and JSON properties. By convention
        ``properties["gate"]`` holds the gate's verdict and
        ``properties["input_example"]`` an example input.
    allow_pickle
        The operator's opt-in to load this version although it holds a pickle.
    aliases
        The aliases pointing at this version when it was read.
    """

    name: str
    version: int
    artifact: str
    run_id: str | None
    run_name: str | None
    blessed: bool
    forced: bool
    created_at: float
    registered_by: str
    description: str
    tags: Mapping[str, str]
    properties: Mapping[str, Any]
    allow_pickle: bool
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """The version's reference, ``NAME:VERSION``."""
        return f"{self.name}:{self.version}"

    @property
    def verdict(self) -> Any:
        """The gate's verdict from ``properties["gate"]`` (None when not recorded)."""
        return self.properties.get("gate")

    @property
    def verdict_text(self) -> str:
        """The verdict in one line: ``passed: ...``, ``rejected: ...``, or ``-`` when none."""
        return verdict_text(self.verdict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["aliases"] = list(self.aliases)
        out["tags"], out["properties"] = dict(self.tags), dict(self.properties)
        return out


@dataclass(frozen=True)
class AliasMove:
    """One entry of the alias audit log: ``alias`` of ``name`` went from one version to another.

    ``from_version`` is None when the move created the alias, ``to_version`` None
    when it deleted it. ``id`` is the log entry's number (None for a move that
    changed nothing and so was not logged).
    """

    id: int | None
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    user: str
    at: float
    reason: str

    @property
    def changed(self) -> bool:
        return self.from_version != self.to_version

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model at a glance: its newest version and its aliases."""

    name: str
    description: str
    created_at: float
    latest_version: int | None
    num_versions: int
    updated_at: float | None
    aliases: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["aliases"] = dict(self.aliases)
        return out


def verdict_text(verdict: Any) -> str:
    """One line for a gate verdict.

    A string is shown as it is; a mapping with ``passed`` (or ``blessed``) and
    ``summary`` (or a list of ``reasons``) as ``passed: ...`` or ``rejected: ...``;
    anything else as JSON.
    """
    if verdict is None:
        return "-"
    if isinstance(verdict, str):
        return verdict
    if isinstance(verdict, Mapping):
        passed = verdict.get("passed", verdict.get("blessed"))
        reasons = verdict.get("reasons")
        detail = verdict.get("summary") or (
            "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
        )
        if isinstance(passed, bool):
            head = "passed" if passed else "rejected"
            return f"{head}: {detail}" if detail else head
    return json.dumps(verdict, sort_keys=True, default=str)


def encode_fields(
    *,
    description: str,
    tags: Mapping[str, Any],
    properties: Mapping[str, Any],
    forced: bool,
    allow_pickle: bool,
    registered_by: str,
) -> str:
    """The JSON text of ``model_versions.properties``; bad values raise ``ConfigError``."""
    if not isinstance(description, str):
        raise ConfigError(
            f"must be a string, got {type(description).__name__} {description!r}",
            field="description",
        )
    if not isinstance(tags, Mapping):
        raise ConfigError(f"must be a mapping of str to str, got {tags!r}", field="tags")
    if len(tags) > MAX_TAGS:
        raise ConfigError(f"at most {MAX_TAGS} tags, got {len(tags)}", field="tags")
    clean_tags: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"tag key {key!r} must be a non-empty string", field="tags")
        if not isinstance(value, str | int | float | bool):
            raise ConfigError(
                f"tag {key!r} has value {value!r} of type {type(value).__name__};"
                " expected a string (or a number or bool, kept as text)",
                field="tags",
            )
        clean_tags[key] = str(value)
    if not isinstance(properties, Mapping):
        raise ConfigError(f"must be a mapping, got {properties!r}", field="properties")
    payload = {
        "description": description,
        "tags": clean_tags,
        "properties": dict(properties),
        "forced": forced,
        "allow_pickle": allow_pickle,
        "registered_by": registered_by,
    }
    try:
        # allow_nan=False: NaN is not JSON, and PostgreSQL's and browsers' parsers refuse it.
        text = json.dumps(payload, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"must hold only JSON values (str, finite numbers, bool, None, lists, dicts): {exc}",
            field=_bad_field(payload),
        ) from exc
    if len(text.encode()) > MAX_PROPERTIES_BYTES:
        raise ConfigError(
            f"description, tags and properties take {len(text.encode())} bytes of JSON, over"
            f" the limit of {MAX_PROPERTIES_BYTES}; store large values as an artifact",
            field="properties",
        )
    return text


def _bad_field(payload: Mapping[str, Any]) -> str:
    for key in ("tags", "properties"):
        try:
            json.dumps(payload[key], allow_nan=False)
        except (TypeError, ValueError):
            return key
    return "properties"


def decode_fields(text: str | None) -> dict[str, Any]:
    """The fields :func:`encode_fields` wrote (defaults for a row written some other way)."""
    try:
        raw = json.loads(text or "{}")
    except ValueError:
        raw = {}
    if not isinstance(raw, dict):
        raw = {}
    known = {"description", "tags", "properties", "forced", "allow_pickle", "registered_by"}
    if not known & raw.keys():
        raw = {"properties": raw}  # a plain JSON object: treat it all as properties
    return {
        "description": str(raw.get("description") or ""),
        "tags": {str(k): str(v) for k, v in (raw.get("tags") or {}).items()},
        "properties": dict(raw.get("properties") or {}),
        "forced": bool(raw.get("forced", False)),
        "allow_pickle": bool(raw.get("allow_pickle", False)),
        "registered_by": str(raw.get("registered_by") or ""),
    }
