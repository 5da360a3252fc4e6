"""The text of the ``shipyard.yaml`` that ``shipyard init DATA_FILE`` writes, comments included.

Written by hand rather than dumped, so that each inferred choice sits next to
the comment that explains it. Strings are plain where YAML reads them back
unchanged in flow and block context, double-quoted (JSON) otherwise.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from ._init_data import DataInit

__all__ = ["render"]

WIDTH = 92
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ ./\-]*")
# Words YAML 1.1 (PyYAML) reads as booleans or null when unquoted.
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def scalar(value: Any) -> str:
    """``value`` as a YAML scalar that reads back the same, also inside ``{...}`` and ``[...]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text == text.strip() and text.lower() not in _RESERVED:
        return text
    return json.dumps(text, ensure_ascii=False)


def flow(value: Any) -> str:
    """``value`` (dicts, lists, scalars) in YAML's one-line flow style."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


def _comment(text: str, indent: int) -> list[str]:
    prefix = " " * indent + "# "
    return textwrap.wrap(text, WIDTH, initial_indent=prefix, subsequent_indent=prefix)


def _with_note(line: str, note: str) -> str:
    return f"{line}   # {note}" if note else line


def _header(d: DataInit) -> list[str]:
    if d.sampled < d.rows:
        seen = (
            f"a sample of {d.sampled:,} of its {d.rows:,} rows (the target's values over all of"
            " them)"
        )
    else:
        seen = f"its {d.rows:,} rows"
    lines = [
        f"# shipyard.yaml for {d.file.name}, written by",
        f"#   {d.command or 'shipyard init'}",
    ]
    lines += _comment(
        f"Each choice below was inferred from {seen}; the comments say why. Change what you"
        " know better, check the file with `shipyard config check`, then `shipyard run`:"
        " ingest -> validate -> transform -> train -> evaluate -> register. Every field is"
        " described in docs/config.md.",
        0,
    )
    return lines


def _data(d: DataInit) -> list[str]:
    lines = ["data:", "  source:"]
    if "query" in d.source:
        lines += _comment(d.source_note, 4)
        lines += ["    kind: duckdb", "    query: |", f"      {d.source['query']}"]
    else:
        lines.append(_with_note(f"    path: {scalar(d.source['path'])}", d.source_note))
    lines += _comment(d.task_note, 2)
    lines.append(f"  target: {scalar(d.target)}")
    if d.target_expr is not None:
        lines += ["  target_expr: |-", f"    {d.target_expr}"]
    lines.append(f"  task: {d.task}")
    if d.key is not None:
        lines += _comment(d.key_note, 2)
        lines.append(f"  key: {scalar(d.key)}")
    lines += _comment(d.split_note, 2)
    lines.append("  splits:")
    lines += [f"    {k}: {scalar(v)}" for k, v in d.splits.items()]
    if d.datetimes:
        column = d.datetimes[0]
        lines += _comment(
            f"{column} is a date or time: to train on the past and measure on the future,"
            " split by time instead:",
            4,
        )
        lines += ["    # method: time", f"    # time_column: {scalar(column)}"]
    if d.on_anomaly is not None:
        lines += _comment(d.anomaly_note, 2)
        lines.append(f"  on_anomaly: {d.on_anomaly}")
    return lines


def _features(d: DataInit) -> list[str]:
    lines = ["features:"]
    if d.dropped:
        lines += _comment("Left out, never features:", 2)
        lines.append("  exclude:")
        lines += [_with_note(f"    - {scalar(x.name)}", x.why) for x in d.dropped]
    kinds = {f.kind for f in d.features}
    how = {
        "numeric": " Numbers: a missing value gets the median; trees need no scaling.",
        "categorical": " Categories: a code per value seen in training (others share one),"
        " one-hot or as one column.",
        "datetime": " Dates and times: their parts as numbers.",
    }
    lines += _comment(
        "The features, fitted on the train split and applied the same way when serving."
        + "".join(text for kind, text in how.items() if kind in kinds),
        2,
    )
    lines.append("  columns:")
    for f in d.features:
        spec = {"name": f.name, "kind": f.kind, "transforms": f.transforms}
        lines.append(_with_note(f"    - {flow(spec)}", f.why))
    return lines


def _train(d: DataInit) -> list[str]:
    lines = ["train:", "  algorithm: xgboost"]
    lines += _comment(d.train_note, 2)
    lines.append("  params:")
    for k, v in d.params.items():
        note = "at most; early stopping picks the number of rounds" if k == "n_estimators" else ""
        lines.append(_with_note(f"    {k}: {scalar(v)}", note))
    lines.append(
        _with_note(
            f"  early_stopping_rounds: {d.early_stopping_rounds}",
            "stop when the eval metric has not improved for this many rounds",
        )
    )
    return lines


def _evaluate(d: DataInit) -> list[str]:
    primary = d.metrics[0]
    example = {"roc_auc": "{min: 0.8}", "accuracy": "{min: 0.8}", "r2": "{min: 0.3}"}[primary]
    lines = ["evaluate:"]
    lines += _comment(
        f"Computed on the eval split. The first, {primary}, is the one a new model is compared on.",
        2,
    )
    lines.append(f"  metrics: {flow(d.metrics)}")
    lines.append("  gate:")
    lines += _comment(
        "No bar yet, so that the first run registers its model. Once you know what is good"
        f" enough, set one, e.g. {primary}: {example}; a model below it is not registered.",
        4,
    )
    lines.append("    thresholds: {}")
    lines += _comment(
        f"Later models must not be worse than the one at this alias: the lower end of the 95%"
        f" interval of their {primary} difference, over the same eval rows, must be at least"
        " -tolerance.",
        4,
    )
    lines += ["    compare_to: production", "    tolerance: 0.01"]
    return lines


def render(d: DataInit) -> str:
    """The text of ``shipyard.yaml`` for what :func:`~._init_data.infer` found."""
    lines = [
        *_header(d),
        "",
        "project:",
        f"  name: {scalar(d.name)}",
        "",
        "# Seed of every random choice in a run: the split, row and column sampling.",
        "seed: 0",
        "",
        *_data(d),
        "",
        *_features(d),
        "",
        *_train(d),
        "",
        *_evaluate(d),
        "",
        "# A blessed model becomes a new version, and the alias moves to it.",
        "register:",
        f"  model_name: {scalar(d.name)}",
        "  alias: production",
    ]
    return "\n".join(lines) + "\n"
