"""The files of a bundle: the manifest's digests, checked on load, and the runtime lock."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import ArtifactIntegrityError, MaterializerError
from ..store.artifacts import file_sha256

__all__ = ["FORMAT", "MANIFEST", "hash_files", "runtime_lock", "verify_files"]

FORMAT = 1
MANIFEST = "bundle.json"
# Files a store or an archive adds beside a bundle's own: never part of it.
_FOREIGN = frozenset({"_manifest.json"})


def _walk(folder: Path) -> Iterable[tuple[str, Path]]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise ArtifactIntegrityError(f"bundle {folder}: {rel} is a symbolic link")
        if path.is_file() and rel != MANIFEST and rel not in _FOREIGN:
            yield rel, path


def hash_files(folder: Path) -> dict[str, str]:
    """sha256 of every file of the bundle at ``folder`` but the manifest, by relative path."""
    return {rel: file_sha256(path) for rel, path in _walk(folder)}


def verify_files(folder: Path, recorded: Mapping[str, str]) -> None:
    """Check every file against the manifest: none changed, missing or added.

    Raises
    ------
    ArtifactIntegrityError
        Naming the first file that differs, and how.
    """
    present = dict(_walk(folder))
    for rel in sorted(recorded):
        path = present.pop(rel, None)
        if path is None:
            raise ArtifactIntegrityError(
                f"bundle {folder}: {rel} is listed in {MANIFEST} but missing"
            )
        digest = file_sha256(path)
        if digest != recorded[rel]:
            raise ArtifactIntegrityError(
                f"bundle {folder}: {rel} does not match its digest in {MANIFEST}"
                f" (sha256 {digest[:12]}..., expected {recorded[rel][:12]}...): the file was"
                " changed after the bundle was written"
            )
    if present:
        raise ArtifactIntegrityError(
            f"bundle {folder}: {sorted(present)[0]} is not listed in {MANIFEST}; a bundle"
            " holds only the files its manifest names"
        )


def copy_files(src: Path, dest: Path, manifest: Mapping[str, Any]) -> None:
    """Copy the bundle's own files (those ``manifest`` lists, and the manifest) into ``dest``."""
    for rel in [*manifest["files"], MANIFEST]:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest / rel)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The parsed ``bundle.json`` of ``folder``, its format checked."""
    path = folder / MANIFEST
    if not path.is_file():
        raise MaterializerError(f"{folder} is not a Shipyard bundle: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactIntegrityError(f"bundle {folder}: {MANIFEST} is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise MaterializerError(
            f"bundle {folder}: format_version {found!r} in {MANIFEST}; this Shipyard reads"
            f" bundle format {FORMAT}"
        )
    if not isinstance(manifest.get("files"), dict):
        raise ArtifactIntegrityError(f"bundle {folder}: {MANIFEST} has no 'files' digests")
    return manifest


# -- the runtime lock ------------------------------------------------------------------------

# What loading and predicting needs beyond Shipyard, by the model's framework.
FRAMEWORK_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "xgboost": ("xgboost-cpu|xgboost",),
    "lightgbm": ("lightgbm",),
    "sklearn": ("scikit-learn", "skops"),
    "torch": ("torch", "safetensors"),
}
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def _runtime_requirements(dist: metadata.Distribution) -> list[str]:
    """The names ``dist`` needs at run time on this interpreter (no extras)."""
    names: list[str] = []
    for req in dist.requires or []:
        spec, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        if marker.strip() and not _marker_holds(marker):
            continue
        m = _REQ_NAME.match(spec)
        if m:
            names.append(m.group(1))
    return names


def _marker_holds(marker: str) -> bool:
    try:
        from packaging.markers import Marker
    except ImportError:  # without packaging, keep the requirement: a lock too wide still works
        return True
    try:
        return bool(Marker(marker.strip()).evaluate())
    except Exception:  # noqa: BLE001 - a marker packaging cannot read: keep the requirement
        return True


def runtime_lock(framework: str) -> list[str]:
    """Exact pins (``name==version``) of what loading and predicting with a bundle needs.

    Shipyard's own runtime dependencies and the framework's packages, with the
    packages they need in turn, as installed here: not the development
    environment (no test tools, no notebooks, no other frameworks).
    """
    roots = ["shipyard"]
    for choice in FRAMEWORK_DISTRIBUTIONS.get(framework, ()):
        found = next((n for n in choice.split("|") if _installed(n) is not None), None)
        roots.append(found or choice.split("|")[0])
    pins: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        key = _normal(name)
        if key in pins:
            continue
        dist = _installed(name)
        if dist is None:
            pins[key] = name  # not installed here: listed unpinned, pip resolves it
            continue
        pins[key] = f"{dist.metadata['Name']}=={dist.version}"
        todo.extend(_runtime_requirements(dist))
    return sorted(pins.values(), key=str.lower)


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"
