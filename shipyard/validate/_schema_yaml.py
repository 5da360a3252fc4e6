"""``schema.yaml``: written for people, read back with errors that give the line.

Writing builds the text by hand rather than through ``yaml.safe_dump`` of the
whole model, because a file people edit needs comments and a fixed layout
(one block per column, keys in one order) that stays stable in diffs. Each
scalar still goes through PyYAML's emitter, which knows when a value must be
quoted (``NO``, ``1``, ``2024-01-01`` and ``null`` as text all do).

Reading reuses the loader of ``shipyard.yaml`` (:mod:`shipyard._config_yaml`),
so a schema's errors read like the config's: ``schema.yaml:14: field
'columns[2].nulable': unknown key 'nulable'; did you mean 'nullable'?``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from .. import _config_yaml
from ..errors import ConfigError

if TYPE_CHECKING:
    from ._schema_model import ColumnSchema, Schema

_HEADER = """\
# Data schema. Shipyard checks new data against it; edit it by hand and keep it in git.
#
# Rules, each an error (stops the pipeline) or a warning (recorded and shown):
#   missing_column    a column below is absent (error if required, else warning)
#   extra_column      a column not listed here is present (see extra_columns)
#   type_mismatch     a column's type is not `type` (int32 vs int64 is fine; int vs float is not)
#   unexpected_nulls  nulls where nullable is false, or more than max_null_fraction of rows
#   out_of_domain     a value not listed in `domain`
#   out_of_range      a value below range.min or above range.max
# Types: float, int, string, bool, timestamp, date, binary, other. Quote text that
# YAML would read as something else ('NO', '007', 'null'); timestamps are ISO 8601.
"""

_SEVERITY_NOTE = """\
# Severity of each rule; a column may override it with its own `severity:` mapping.
"""

_EXTRA_NOTE = """\
# Columns not listed below: error, warning or ignore.
"""

# Long domains get a count above them, so that a reader scrolling past a
# hundred lines knows where the column's block ends.
_COUNT_DOMAINS_OVER = 10


def scalar(value: Any) -> str:
    """One YAML scalar on one line, quoted only when YAML needs it."""
    if isinstance(value, str) and not value.isprintable():
        # Line breaks and control characters: only double quotes escape them
        # on a single line (PyYAML would otherwise fold the value over lines).
        style: str | None = '"'
    else:
        style = None
    text = yaml.safe_dump(value, default_style=style, allow_unicode=True, width=2**31)
    return text.removesuffix("\n...\n").removesuffix("\n")


def render(schema: Schema) -> str:
    """The text of ``schema.yaml`` for ``schema``."""
    lines = [_HEADER.rstrip("\n"), f"version: {schema.version}", _EXTRA_NOTE.rstrip("\n")]
    lines.append(f"extra_columns: {schema.extra_columns}")
    lines.append(_SEVERITY_NOTE.rstrip("\n"))
    lines.append("severity:")
    lines += [f"  {rule}: {level}" for rule, level in schema.severity.items()]
    if not schema.columns:
        lines.append("columns: []")
    else:
        lines.append("columns:")
        for column in schema.columns:
            lines += _column_lines(column)
    return "\n".join(lines) + "\n"


def _column_lines(column: ColumnSchema) -> list[str]:
    out = [f"  - name: {scalar(column.name)}", f"    type: {column.type}"]
    if column.arrow_type is not None:
        out.append(f"    arrow_type: {scalar(column.arrow_type)}")
    out.append(f"    required: {scalar(column.required)}")
    out.append(f"    nullable: {scalar(column.nullable)}")
    if column.max_null_fraction is not None:
        out.append(f"    max_null_fraction: {scalar(column.max_null_fraction)}")
    if column.domain is not None:
        if len(column.domain) > _COUNT_DOMAINS_OVER:
            out.append(f"    # {len(column.domain)} values")
        out.append("    domain:")
        out += [f"      - {scalar(value)}" for value in column.domain]
    if column.range is not None:
        out.append("    range:")
        for key in ("min", "max"):
            bound = getattr(column.range, key)
            if bound is not None:
                out.append(f"      {key}: {scalar(bound)}")
    if column.severity:
        out.append("    severity:")
        out += [f"      {rule}: {level}" for rule, level in column.severity.items()]
    return out


def load(cls: type[Schema], source: str | Path, *, source_name: str | None) -> Schema:
    """Read and validate a schema; see :meth:`Schema.from_yaml`."""
    if isinstance(source, Path) or "\n" not in source:
        path = Path(source)
        file = source_name or str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise ConfigError("no such schema file", file=file) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the schema file: {exc}", file=file) from None
    else:
        text, file = source, source_name or "<schema>"
    document = _config_yaml.read_yaml(text, file)
    data = document.data
    if not isinstance(data, dict):
        got = "an empty document" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            f"expected a mapping with a 'columns:' list; got {got}", file=file, line=1
        )
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        issues = _config_yaml.validation_issues(exc, data, document.lines, cls, {}, _unchanged)
        raise _config_yaml.config_error(issues, file) from None


def _unchanged(text: str) -> str:
    # A schema holds no secrets: nothing to mask in its messages.
    return text
