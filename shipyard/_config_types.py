"""Field types shared by the sections of :mod:`shipyard.config`.

Each type is a ``str`` checked (and, for paths, resolved) by a validator with a
message that names the value and what was expected. Paths resolve against the
``base_dir`` in the validation context, which the loader sets to the folder of
``shipyard.yaml``; a config built in code resolves against the current
directory at the moment it is built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from .errors import ReferenceError_
from .refs import NAME_PATTERN, parse_ref

_NAME = re.compile(NAME_PATTERN)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]+://")
_LOCAL_DB = re.compile(r"(?P<scheme>(?:sqlite|duckdb)(?:\+\w+)?):///(?P<rest>.*)", re.DOTALL)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_EXPECTED = "{} is not a duration; expected e.g. '30s', '15m', '1h' or '7d'"
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,\-?]+")
_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?::[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)?")
CONDITION = re.compile(r"\s*([A-Za-z_][\w.]*)\s*(==|!=|not in|in)\s*(.+?)\s*")


class Section(BaseModel):
    """Base of every section: unknown keys are errors.

    A misspelled key that is silently ignored is the worst kind of config bug.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        # A key left empty (``serve:`` whose lines are all commented out) is
        # YAML null: it takes its default rather than failing as a type error.
        # Fields that accept null keep it.
        if not isinstance(data, dict) or None not in data.values():
            return data
        defaulted = {
            name
            for name, field in cls.model_fields.items()
            if not field.is_required() and type(None) not in get_args(field.annotation)
        }
        return {k: v for k, v in data.items() if v is not None or k not in defaulted}


def is_url(text: str) -> bool:
    """Whether ``text`` starts with a URL scheme (``s3://``, ``https://``)."""
    return bool(_URL.match(text))


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context
    if isinstance(context, Mapping) and context.get("base_dir") is not None:
        return Path(context["base_dir"])
    return Path.cwd()


def _absolute(path: str, info: ValidationInfo) -> str:
    # normpath, not resolve(): keep symlinks and glob characters as written.
    return os.path.normpath(_base_dir(info) / Path(path).expanduser())


def _location(value: str, info: ValidationInfo) -> str:
    if not value.strip():
        raise ValueError("expected a path or URL; got an empty string")
    return value if is_url(value) else _absolute(value, info)


def _database_url(value: str, info: ValidationInfo) -> str:
    if not is_url(value):
        raise ValueError(
            f"{value!r} is not a URL; expected e.g. 'sqlite:///path/to/file.db'"
            " or 'postgresql://user@host/db'"
        )
    match = _LOCAL_DB.fullmatch(value)
    if match:
        path, mark, query = match["rest"].partition("?")
        if path and path != ":memory:" and not path.startswith("file:"):
            path = _absolute(path, info)
        return f"{match['scheme']}:///{path}{mark}{query}"
    return value


def _callable_target(value: str, info: ValidationInfo) -> str:
    # rpartition: a Windows path such as C:\p\x.py:fn has a colon of its own.
    where, sep, name = value.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise ValueError(
            f"{value!r} is not 'path/to/file.py:function' (or 'package.module:function')"
        )
    return f"{_absolute(where, info)}:{name}" if where.endswith(".py") else value


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name; expected 1-128 letters, digits, '_', '-'"
            " or '.', starting with a letter or digit"
        )
    return value


def _model_ref(value: str) -> str:
    try:
        ref = parse_ref(value)
    except ReferenceError_ as exc:
        raise ValueError(str(exc)) from None
    if ref.kind in ("run", "artifact"):
        raise ValueError(
            f"{value!r} is a {ref.kind} reference; expected NAME@ALIAS, NAME:VERSION or NAME"
        )
    return str(ref)


def _duration(value: str) -> str:
    if not _DURATION.fullmatch(value):
        raise ValueError(_DURATION_EXPECTED.format(repr(value)))
    return value


def _schedule(value: str) -> str:
    fields = value.split()
    if _DURATION.fullmatch(value):
        return value
    if len(fields) == 5 and all(_CRON_FIELD.fullmatch(f) for f in fields):
        return value
    raise ValueError(
        f"{value!r} is neither a duration ('15m', '1h') nor a 5-field cron line ('0 * * * *')"
    )


def _import_path(value: str) -> str:
    if not _IMPORT_PATH.fullmatch(value):
        raise ValueError(f"{value!r} is not an import path such as 'sklearn.linear_model:Ridge'")
    return value


def parse_duration(text: str) -> timedelta:
    """Return the :class:`~datetime.timedelta` of a duration such as ``"15m"``.

    Raises
    ------
    ValueError
        When ``text`` is not a number followed by ms, s, m, h, d or w.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(_DURATION_EXPECTED.format(repr(text)))
    return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])


def _pattern(regex: str) -> Any:
    # Show the pattern to editors without letting pydantic check it first,
    # with its terse "String should match pattern" message.
    return Field(json_schema_extra={"pattern": f"^{regex}$"})


Name = Annotated[str, AfterValidator(_name), _pattern(NAME_PATTERN)]
"""A model, alias or project name (the grammar of :mod:`shipyard.refs`)."""
ModelRef = Annotated[str, AfterValidator(_model_ref)]
"""``NAME@ALIAS``, ``NAME:VERSION`` or ``NAME``."""
Location = Annotated[str, AfterValidator(_location)]
"""A local path (made absolute) or a URL (kept)."""
DatabaseURL = Annotated[str, AfterValidator(_database_url)]
"""A SQLAlchemy URL; a relative SQLite or DuckDB file is made absolute."""
CallableTarget = Annotated[str, AfterValidator(_callable_target), _pattern(r".+:[A-Za-z_]\w*")]
"""``path/to/file.py:function`` (the file made absolute) or ``module:function``."""
Duration = Annotated[str, AfterValidator(_duration), _pattern(_DURATION.pattern)]
"""A number and a unit: ``500ms``, ``30s``, ``15m``, ``1h``, ``7d``, ``2w``."""
Schedule = Annotated[str, AfterValidator(_schedule)]
"""A :data:`Duration` or a 5-field cron line."""
ImportPath = Annotated[str, AfterValidator(_import_path)]
"""``package.module:Name`` or ``package.module.Name``."""


def folder_name(folder: Path) -> str:
    """Turn a folder's name into a valid project name (``my project`` -> ``my-project``)."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", folder.name).lstrip("_.-")[:128]
    return name or "project"


def duplicates(values: list[str]) -> list[str]:
    """Return the values of ``values`` that appeared before, in order."""
    seen: set[str] = set()
    repeated = []
    for value in values:
        if value in seen:
            repeated.append(value)
        seen.add(value)
    return repeated
