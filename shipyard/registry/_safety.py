"""Spotting pickles among a model's files, so that the registry can refuse them.

Unpickling runs code (MLflow's CVE-2024-37052 and its kin), so a version whose
files are pickles is registered only with the operator's opt-in. The artifact
row's ``unsafe`` flag catches what Shipyard's own pickle materializer wrote;
this module catches pickles that arrive inside other artifacts (a folder of
files from a ``Path`` output, say), by name and by their first and last bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["pickled_files"]

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
# Formats that are safe by design but could open with the same two bytes as a pickle
# (a safetensors file starts with its header's length, little-endian).
SAFE_SUFFIXES = (".safetensors",)
_STOP = 0x2E  # the opcode every pickle ends with


def pickled_files(folder: Path, manifest: Mapping[str, Any]) -> list[str]:
    """Files of an artifact (relative paths from its manifest) that are, or claim to be, pickles.

    A pickle of protocol 2 or later opens with ``0x80`` and the protocol number
    and ends with the STOP opcode; protocols 0 and 1 have no signature and are
    caught by their file name only.
    """
    found: list[str] = []
    for rel in sorted(manifest.get("files", {})):
        lower = rel.lower()
        if lower.endswith(PICKLE_SUFFIXES):
            found.append(rel)
            continue
        if lower.endswith(SAFE_SUFFIXES):
            continue
        path = folder / rel
        with open(path, "rb") as fh:
            head = fh.read(2)
            if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= 5:
                continue
            fh.seek(-1, 2)
            if fh.read(1)[0] == _STOP:
                found.append(rel)
    return found
