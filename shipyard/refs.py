"""The one grammar for references, used by the CLI, ``shipyard.yaml`` and HTTP.

=========================  ==========================================
``NAME@ALIAS``              the model version an alias points at
``NAME:VERSION``            one numbered version of a registered model
``NAME``                    the latest version of a registered model
``run:ID``                  a run (ID or a unique prefix of it)
``artifact:SHA256-PREFIX``  an artifact by (a unique prefix of) its digest
=========================  ==========================================

Names are letters, digits, ``_``, ``-`` and ``.``, starting with a letter or
digit, so a reference can never smuggle a path (``../``) or a shell word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import ReferenceError_

__all__ = ["Ref", "parse_ref", "NAME_PATTERN"]

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}"
_NAME = re.compile(NAME_PATTERN)
_HEX = re.compile(r"[0-9a-f]{4,64}")
_RUN_ID = re.compile(r"[0-9a-f]{4,32}")
_VERSION = re.compile(r"[1-9][0-9]{0,8}")

RefKind = Literal["alias", "version", "model", "run", "artifact"]


@dataclass(frozen=True)
class Ref:
    """A parsed reference. ``name`` is the model name, run ID or digest prefix."""

    kind: RefKind
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.kind == "alias":
            return f"{self.name}@{self.alias}"
        if self.kind == "version":
            return f"{self.name}:{self.version}"
        if self.kind in ("run", "artifact"):
            return f"{self.kind}:{self.name}"
        return self.name


_EXPECTED = "expected NAME@ALIAS, NAME:VERSION, NAME, run:ID or artifact:SHA256-PREFIX"


def parse_ref(text: str) -> Ref:
    """Parse ``text`` into a :class:`Ref`.

    Raises
    ------
    ReferenceError_
        When ``text`` matches no form of the grammar; the message says which
        part was wrong and lists the forms.
    """
    if not isinstance(text, str) or not text.strip():
        raise ReferenceError_(f"empty reference; {_EXPECTED}")
    text = text.strip()
    for prefix, pattern, what in (
        ("run:", _RUN_ID, "a run ID of 4-32 hex digits"),
        ("artifact:", _HEX, "a sha256 prefix of 4-64 lowercase hex digits"),
    ):
        if text.startswith(prefix):
            value = text[len(prefix) :].lower() if prefix == "run:" else text[len(prefix) :]
            if not pattern.fullmatch(value):
                raise ReferenceError_(f"reference {text!r}: {value!r} is not {what}")
            return Ref("run" if prefix == "run:" else "artifact", value)
    if "@" in text:
        name, _, alias = text.partition("@")
        _check_name(text, name, "model name")
        _check_name(text, alias, "alias")
        return Ref("alias", name, alias=alias)
    if ":" in text:
        name, _, version = text.partition(":")
        _check_name(text, name, "model name")
        if not _VERSION.fullmatch(version):
            raise ReferenceError_(
                f"reference {text!r}: version {version!r} is not a positive integer; {_EXPECTED}"
            )
        return Ref("version", name, version=int(version))
    _check_name(text, text, "model name")
    return Ref("model", text)


def _check_name(text: str, name: str, what: str) -> None:
    if not _NAME.fullmatch(name):
        raise ReferenceError_(
            f"reference {text!r}: {what} {name!r} must be 1-128 letters, digits, '_', '-' or '.'"
            f" starting with a letter or digit; {_EXPECTED}"
        )
