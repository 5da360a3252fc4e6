"""``--param NAME=VALUE`` text turned into the type the pipeline function declares."""

from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..pipeline.dag import Pipeline

__all__ = ["coerce_params"]

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def coerce_params(pipe: Pipeline, raw: dict[str, str]) -> dict[str, Any]:
    """Convert each value by the parameter's annotation, or by its default's type."""
    try:
        hints = typing.get_type_hints(pipe.fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to defaults' types
        hints = {}
    params = pipe.signature.parameters
    out: dict[str, Any] = {}
    for key, text in raw.items():
        if key not in params:
            raise ConfigError(
                f"--param {key}: pipeline '{pipe.name}' has no such parameter;"
                f" its parameters are {sorted(params) or 'none'}"
            )
        kind = hints.get(key)
        if kind is None and params[key].default is not inspect.Parameter.empty:
            kind = type(params[key].default) if params[key].default is not None else None
        out[key] = _convert(key, text, kind)
    return out


def _convert(key: str, text: str, kind: Any) -> Any:
    options = (
        [a for a in typing.get_args(kind) if a is not type(None)]
        if typing.get_args(kind)
        else [kind]
    )
    if kind is not None and typing.get_origin(kind) in (list, dict):
        options = [typing.get_origin(kind)]
    if text.lower() in ("none", "null") and (kind is None or type(None) in typing.get_args(kind)):
        return None
    errors = []
    for opt in options:
        try:
            return _as(opt, text)
        except (ValueError, TypeError) as exc:
            errors.append(str(exc))
    expected = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ConfigError(f"--param {key}={text!r}: expected {expected}")


def _as(kind: Any, text: str) -> Any:
    if kind is None or kind is Any:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if kind is bool:
        low = text.lower()
        if low in _TRUE | _FALSE:
            return low in _TRUE
        raise ValueError(text)
    if kind in (int, float, str):
        return kind(text)
    if kind is Path:
        return Path(text)
    if kind in (list, dict):
        value = json.loads(text)
        if not isinstance(value, kind):
            raise TypeError(text)
        return value
    raise TypeError(f"unsupported parameter type {kind!r}")
