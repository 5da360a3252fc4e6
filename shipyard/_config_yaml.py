"""The private half of :mod:`shipyard.config`: reading ``shipyard.yaml``.

Everything here serves one goal: when a config is wrong, the user reads
``shipyard.yaml:12: field 'serve.port': ...`` and knows what to change. So the
YAML is composed into nodes first (to keep the line of every key), ``${VAR}``
references are replaced in string values only (an environment value can never
inject YAML structure), and pydantic's errors are rewritten with the line, the
dotted field, the value and what was expected. Values that came from the
environment are secrets: they are masked wherever an error or a dump shows them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError

KeyPath = tuple[str | int, ...]
"""A path into the document: mapping keys as strings, list positions as ints."""

MASK = "***"

# Values shorter than this are not replaced in free text by ``mask``: masking
# "1" or "on" would shred every log line while hiding nothing worth hiding.
# Fields holding such a value are still masked whole in ``masked_dump``.
MIN_MASKED_LENGTH = 4

# Far above any real config, far below what exhausts memory.
MAX_NODES = 200_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)(?P<pw>[^@\s/]+)@")
# Whole words of a key, so that "auth_token" is hidden and "tokenizer" is not.
_SENSITIVE_KEY = re.compile(
    r"(?i)(?:^|[_.-])(?:password|passwd|secret|token|api_?key|credentials?)(?:$|[_.-])"
)


class FieldError(ValueError):
    """A validator's error about a field below the model that raised it.

    Pydantic reports a ``model_validator`` error at the model; ``loc`` lets the
    loader point at the offending key instead (its line, its dotted name).
    """

    def __init__(self, loc: KeyPath, message: str) -> None:
        super().__init__(message)
        self.loc = loc


class _TooLarge(Exception):
    pass


@dataclass(frozen=True)
class Issue:
    """One problem found in a config file."""

    line: int | None
    field: str
    message: str


@dataclass
class Document:
    """A parsed YAML document and the line of every key and list item in it."""

    data: Any
    lines: dict[KeyPath, int]


def config_error(issues: list[Issue], file: str | None) -> ConfigError:
    """Return one :class:`ConfigError` listing ``issues`` (at least one)."""
    if len(issues) == 1:
        one = issues[0]
        return ConfigError(one.message, file=file, line=one.line, field=one.field or None)
    rows = []
    for issue in issues:
        where = f"{file}:{issue.line}: " if file and issue.line else ""
        where += f"field '{issue.field}': " if issue.field else ""
        rows.append(f"  {where}{issue.message}")
    return ConfigError(f"{len(issues)} errors:\n" + "\n".join(rows), file=file)


def raise_issues(issues: list[Issue], file: str | None) -> None:
    """Raise :func:`config_error` of ``issues`` unless there are none."""
    if issues:
        raise config_error(issues, file)


# -- YAML --------------------------------------------------------------------


def read_yaml(text: str, file: str) -> Document:
    """Parse ``text`` and map each key path to its 1-based line number.

    Raises
    ------
    ConfigError
        On a YAML syntax error (with its line and column) or a duplicated key,
        which plain PyYAML would silently resolve to the last value.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        issues: list[Issue] = []
        if node is None:
            return Document(None, lines)
        _map_lines(node, (), lines, issues, explicit=True, budget=[MAX_NODES])
        raise_issues(issues, file)
        return Document(loader.construct_document(node), lines)
    except (_TooLarge, RecursionError):
        message = f"the document nests too deeply or expands to over {MAX_NODES} values (aliases?)"
        raise ConfigError(message, file=file) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        column = f" (column {mark.column + 1})" if mark is not None else ""
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        reason = ", ".join(p for p in parts if p) or str(exc)
        raise ConfigError(f"invalid YAML{column}: {reason}", file=file, line=line) from None
    finally:
        loader.dispose()


def _map_lines(
    node: yaml.Node,
    path: KeyPath,
    lines: dict[KeyPath, int],
    issues: list[Issue],
    *,
    explicit: bool,
    budget: list[int],
) -> None:
    # ``explicit`` is False inside a ``<<`` merge: merged keys never override
    # the lines of keys written in the mapping itself, and never count as dups.
    # ``budget`` counts nodes down: aliases of aliases can expand a short file
    # into billions of values ("billion laughs"); refuse that early.
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in merged:
                    _map_lines(source, path, lines, issues, explicit=False, budget=budget)
                continue
            key = str(key_node.value)
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if explicit and key in seen:
                issues.append(Issue(line, dotted(child), f"duplicate key '{key}'"))
            seen.add(key)
            if explicit:
                lines[child] = line
            else:
                lines.setdefault(child, line)
            _map_lines(value_node, child, lines, issues, explicit=explicit, budget=budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            if explicit:
                lines[child] = item.start_mark.line + 1
            else:
                lines.setdefault(child, item.start_mark.line + 1)
            _map_lines(item, child, lines, issues, explicit=explicit, budget=budget)


def line_of(lines: Mapping[KeyPath, int], path: Iterable[str | int]) -> int | None:
    """Return the line of the deepest prefix of ``path`` present in ``lines``."""
    found: KeyPath = ()
    best = None
    for part in path:
        for candidate in (part, str(part)):
            if (*found, candidate) in lines:
                found = (*found, candidate)
                best = lines[found]
                break
        else:
            break
    return best


def dotted(path: Iterable[str | int]) -> str:
    """Write ``("serve", "traffic", 0, "ref")`` as ``serve.traffic[0].ref``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# -- ${VAR} interpolation ------------------------------------------------------


def interpolate(
    data: Any, env: Mapping[str, str], lines: Mapping[KeyPath, int], file: str | None
) -> tuple[Any, dict[KeyPath, list[str]]]:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string value of ``data``.

    ``$${`` writes a literal ``${``. ``${VAR:-default}`` uses the default when
    the variable is unset or empty, as the shell does.

    Returns
    -------
    data, secrets
        A copy of ``data``, and for each key path the environment values that
        went into it (the defaults written in the file are not secrets).

    Raises
    ------
    ConfigError
        Listing every unset variable (without a default) and every malformed
        reference, each with its line and field.
    """
    secrets: dict[KeyPath, list[str]] = {}
    issues: list[Issue] = []

    def walk(value: Any, path: KeyPath) -> Any:
        if isinstance(value, str):
            text, used, problems = _substitute(value, env)
            issues.extend(Issue(line_of(lines, path), dotted(path), p) for p in problems)
            if used:
                secrets[path] = used
            return text
        if isinstance(value, dict):
            return {k: walk(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        return value

    result = walk(data, ())
    raise_issues(issues, file)
    return result, secrets


def _substitute(text: str, env: Mapping[str, str]) -> tuple[str, list[str], list[str]]:
    out: list[str] = []
    used: list[str] = []
    problems: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        if text.startswith("$${", j):
            out.append("${")
            i = j + 3
            continue
        if not text.startswith("${", j):
            out.append("$")
            i = j + 1
            continue
        end = text.find("}", j)
        if end < 0:
            problems.append("'${' is not closed by '}'; write '$${' for a literal '${'")
            break
        body = text[j + 2 : end]
        name, sep, default = body.partition(":-")
        if not _VAR_NAME.fullmatch(name):
            problems.append(
                f"'${{{body}}}' is not a variable reference; expected ${{NAME}} or"
                " ${NAME:-default} with NAME made of letters, digits and '_'"
            )
        elif env.get(name):
            used.append(env[name])
            out.append(env[name])
        elif sep:
            out.append(default)
        elif name in env:
            out.append("")  # set but empty: the user's choice, not an error
        else:
            problems.append(
                f"environment variable '{name}' is not set; set it, or write"
                f" ${{{name}:-default}} to give a default"
            )
        i = end + 1
    return "".join(out), used, problems


# -- masking -------------------------------------------------------------------


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret in ``text``, and any password in a URL, by ``***``."""
    for secret in sorted(
        {s for s in secrets if len(s) >= MIN_MASKED_LENGTH}, key=len, reverse=True
    ):
        text = text.replace(secret, MASK)
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)


def url_passwords(text: str) -> list[str]:
    """Return the passwords embedded in URLs within ``text``."""
    return [m["pw"] for m in _URL_PASSWORD.finditer(text)]


def mask_tree(
    value: Any,
    path: KeyPath,
    secrets: Mapping[KeyPath, list[str]],
    mask: Callable[[str], str],
) -> Any:
    """Mask a JSON-able tree: secret fields, sensitive keys, then free text."""
    if path in secrets:
        if isinstance(value, str):
            masked = value
            for secret in secrets[path]:
                masked = masked.replace(secret, MASK)
            # A value the validator rewrote (a resolved path, a number) may no
            # longer contain the secret verbatim: hide the whole field then.
            return mask(masked) if masked != value else MASK
        return MASK
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            sensitive = _SENSITIVE_KEY.search(str(key)) and isinstance(item, str | int | float)
            out[key] = MASK if sensitive else mask_tree(item, (*path, str(key)), secrets, mask)
        return out
    if isinstance(value, list):
        return [mask_tree(item, (*path, i), secrets, mask) for i, item in enumerate(value)]
    if isinstance(value, str):
        return mask(value)
    return value


# -- pydantic errors -> ConfigError --------------------------------------------


def validation_issues(
    error: ValidationError,
    data: Any,
    lines: Mapping[KeyPath, int],
    root: type[BaseModel],
    secrets: Mapping[KeyPath, list[str]],
    mask: Callable[[str], str],
) -> list[Issue]:
    """Rewrite each pydantic error as an :class:`Issue` with line and field."""
    issues: dict[str, Issue] = {}
    for err in error.errors():
        path = _data_path(err["loc"], data, keep_last=err["type"] == "missing")
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            path = (*path, *cause.loc)
        hidden = path in secrets or any(
            isinstance(p, str) and _SENSITIVE_KEY.search(p) for p in path
        )
        message = _describe(err, path, root, hidden)
        for secret in secrets.get(path, []):
            # Our messages quote the value; a short secret escapes ``mask``.
            message = message.replace(repr(secret), MASK)
        message = mask(message)
        field = dotted(path)
        issue = Issue(line_of(lines, path), field, message)
        # A union reports one error per member; the first says enough.
        issues.setdefault(field, issue)
    return sorted(issues.values(), key=lambda i: (i.line or 0, i.field))


def _data_path(loc: tuple[Any, ...], data: Any, *, keep_last: bool) -> KeyPath:
    # Pydantic's loc mixes real keys with union tags and validator names
    # ('function-after[...]', 'int', '[key]'); keep only what is in the data.
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, dict) and (part in node or str(part) in node):
            key = part if part in node else str(part)
            path.append(str(key))
            node = node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif keep_last and index == len(loc) - 1 and isinstance(part, str):
            path.append(part)
    return tuple(path)


def _describe(err: Any, path: KeyPath, root: type[BaseModel], hidden: bool) -> str:
    kind, value = err["type"], err.get("input")
    shown = MASK if hidden else _short(value)
    if kind == "missing":
        return "this field is required"
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        valid = sorted(_valid_keys(root, path[:-1]))
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "valid keys: " + ", ".join(valid)
        return f"unknown key '{key}'; {hint}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (indented 'key: value' lines); got {shown}"
    if kind == "value_error":
        # Our validators name the values themselves.
        return str(err["msg"]).removeprefix("Value error, ")
    message = str(err["msg"])
    if kind in ("less_than", "less_than_equal", "greater_than", "greater_than_equal"):
        message = message.replace("Input should be ", "Input should be a number ", 1)
    message = (
        "expected " + message[len("Input should be ") :]
        if message.startswith("Input should be ")
        else message
    )
    if kind == "literal_error" and isinstance(value, str) and not hidden:
        choices = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
        if close:
            return f"{message}; got {shown}; did you mean '{close[0]}'?"
    return f"{message}; got {shown}"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _valid_keys(root: type[BaseModel], path: KeyPath) -> set[str]:
    models: list[type[BaseModel]] = [root]
    for part in path:
        owners = [m for m in models if isinstance(part, str) and part in m.model_fields]
        if owners:
            models = [
                inner
                for owner in owners
                for inner in _models_in(owner.model_fields[str(part)].annotation)
            ]
        # Otherwise ``part`` is a list index or a dict key: same models below it.
    return {name for model in models for name in model.model_fields}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]
