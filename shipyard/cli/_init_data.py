"""``shipyard init DATA_FILE --target COLUMN``: a ``shipyard.yaml`` inferred from a data file.

The file is read through the same DuckDB reader as the ingest step, so the
column types seen here are those the pipeline will see. The target's values
are counted over the whole file; everything else is judged on a sample of at
most :data:`SAMPLE_ROWS` rows (all of them when the file is that small), in
Arrow, never in pandas. Each choice carries a short reason that becomes a
comment of the YAML (``_init_yaml``).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import ConfigError, DataSourceError
from ..refs import NAME_PATTERN
from ._init_columns import (
    RARE,
    Dropped,
    Feature,
    choose_columns,
    column_facts,
    count_text,
    infer_target,
    label_counts,
    rare_columns,
    values_text,
)

__all__ = ["DATA_SUFFIXES", "DataInit", "infer", "init_command", "init_from_data", "is_data_file"]

DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson")
"""Suffixes of the files ``init`` reads (CSV, TSV and JSON lines also with .gz or .zst)."""
SAMPLE_ROWS = 100_000
"""Rows read to judge the columns; the target's values are counted over every row."""
TASKS = ("auto", "binary", "multiclass", "regression")

# Fewer rows than this: a bigger eval split (metrics on a handful of rows are noise),
# and shallower trees.
_SMALL_SPLIT, _SMALL_MODEL = 2_000, 10_000


@dataclass
class DataInit:
    """Everything ``init`` inferred from a data file; ``_init_yaml.render`` writes it."""

    file: Path
    command: str
    name: str
    source: dict[str, Any]
    source_note: str
    rows: int
    sampled: int
    column: str
    target: str
    target_expr: str | None
    task: str
    task_note: str
    key: str | None
    key_note: str
    features: list[Feature]
    dropped: list[Dropped]
    datetimes: list[str]
    splits: dict[str, Any]
    split_note: str
    params: dict[str, Any]
    early_stopping_rounds: int
    train_note: str
    metrics: list[str]
    on_anomaly: str | None = None
    anomaly_note: str = ""
    notes: list[str] = field(default_factory=list)


def is_data_file(path: Path) -> bool:
    """Whether ``path``'s name ends with a data suffix (compressed text files included)."""
    name = path.name.lower()
    for compressed in (".gz", ".zst"):
        name = name.removesuffix(compressed)
    return name.endswith(DATA_SUFFIXES)


def init_command(
    data_file: Path,
    target: str | None,
    *,
    name: str | None = None,
    task: str = "auto",
    directory: Path | None = None,
    force: bool = False,
) -> None:
    """``shipyard init DATA_FILE``: check the arguments, write the file, print what was chosen.

    Raises
    ------
    ConfigError
        For a file that is no data file or does not exist, a missing ``--target``, and
        as :func:`init_from_data`.
    """
    import shlex

    from ._format import console

    if not is_data_file(data_file):
        raise ConfigError(
            f"{data_file} is a file, not a folder nor a data file ({', '.join(DATA_SUFFIXES)})"
        )
    if not data_file.is_file():
        raise ConfigError(f"{data_file}: no such file")
    if target is None:
        raise ConfigError(
            f"--target is required with a data file: shipyard init {data_file} --target COLUMN"
        )
    words = ["shipyard", "init", str(data_file), "--target", target]
    for opt, value in (("--name", name), ("--dir", directory)):
        if value is not None:
            words += [opt, str(value)]
    if task != "auto":
        words += ["--task", task]
    written, found = init_from_data(
        data_file,
        target,
        folder=directory if directory is not None else Path("."),
        name=name,
        task=task,
        force=force,
        command=shlex.join(words),
    )
    out = console()
    codes = f" (codes of {found.column!r})" if found.target_expr else ""
    lines = [
        f"wrote {written}: {found.task} task, target {found.target!r}{codes},"
        f" {len(found.features)} features, from {found.rows:,} rows of {data_file}",
        *(f"  left out {d.name}: {d.why}" for d in found.dropped),
        *([f"  key {found.key}: unique per row, never a feature"] if found.key else []),
        *(f"  {note}" for note in found.notes),
    ]
    where = f"cd {shlex.quote(str(directory))} && " if directory is not None else ""
    lines.append(f"next: {where}shipyard run")
    for line in lines:
        out.print(line, markup=False)


def init_from_data(
    data_file: Path,
    target: str,
    *,
    folder: Path,
    name: str | None = None,
    task: str = "auto",
    force: bool = False,
    command: str = "",
) -> tuple[Path, DataInit]:
    """Infer a config from ``data_file`` and write ``folder/shipyard.yaml``.

    Parameters
    ----------
    data_file
        A CSV, Parquet or JSON-lines file.
    target
        The column to predict.
    folder
        Where ``shipyard.yaml`` is written (created if missing).
    name
        The project and model name; default: the file's name, sanitised.
    task
        ``auto`` (inferred), ``binary``, ``multiclass`` or ``regression``.
    force
        Overwrite an existing ``shipyard.yaml``.
    command
        The command line, quoted in the file's header.

    Returns
    -------
    tuple
        The path written and what was inferred.

    Raises
    ------
    ConfigError
        For a missing target column, a task that does not fit it, a bad name, or an
        existing ``shipyard.yaml`` without ``force``.
    DataSourceError
        When the file cannot be read or holds no rows.
    """
    from ..config import load_config
    from ._init_yaml import render

    out = folder / "shipyard.yaml"
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists; pass --force to overwrite it")
    inferred = infer(data_file, target, folder=folder, name=name, task=task, command=command)
    text = render(inferred)
    folder.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    load_config(out)  # what was written must load: a failure here is a bug of init
    return out, inferred


# -- reading --------------------------------------------------------------------------------


def _read(data_file: Path, target: str) -> tuple[pa.Table, int, int, Any, str]:
    """The sample, the file's rows, its rows with a target, the connection and the relation."""
    import duckdb

    from ..data.sources import resolve_source
    from ..data.splits import quote_ident

    if not data_file.is_file():
        raise DataSourceError(f"{data_file}: no such file")
    res = resolve_source({"path": str(data_file.resolve())}, root=data_file.resolve().parent)
    threads = max(1, min(4, os.cpu_count() or 1))
    con = duckdb.connect(config={"threads": threads, "memory_limit": "512MB"})
    con.execute("SET enable_progress_bar = false")
    # The SQL below is the reader's own (paths through sql_literal) and quoted names.
    relation = f"{res.sql} AS src"
    try:
        columns = [d[0] for d in con.sql(f"SELECT * FROM {relation} LIMIT 0").description]  # noqa: S608
        if target not in columns:
            con.close()
            raise _no_target(target, columns, data_file)
        q = quote_ident(target)
        rows, labelled = con.sql(f"SELECT count(*), count({q}) FROM {relation}").fetchall()[0]  # noqa: S608
        sample_sql = f"SELECT * FROM {relation}"  # noqa: S608
        if rows > SAMPLE_ROWS:
            sample_sql += f" USING SAMPLE reservoir({SAMPLE_ROWS} ROWS) REPEATABLE (0)"
        sample = con.sql(sample_sql).to_arrow_table()
    except duckdb.Error as exc:
        con.close()
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()][:4]
        raise DataSourceError(f"cannot read {data_file}: " + "\n  ".join(lines)) from None
    if rows == 0:
        con.close()
        raise DataSourceError(f"{data_file}: no rows")
    return sample, int(rows), int(labelled), con, relation


def _no_target(target: str, columns: Sequence[str], data_file: Path) -> ConfigError:
    close = difflib.get_close_matches(target, list(columns), n=1, cutoff=0.4)
    if not close:
        close = [c for c in columns if c.lower() == target.lower()][:1]
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(columns[:40]) + (
        f", ... ({len(columns) - 40} more)" if len(columns) > 40 else ""
    )
    return ConfigError(
        f"--target {target!r} is not a column of {data_file.name}; {hint}its columns: {shown}"
    )


# -- the rest -------------------------------------------------------------------------------


def project_name(data_file: Path) -> str:
    """A valid project name from the file's name without its data suffixes."""
    stem = data_file.name
    for suffix in (".gz", ".zst", *DATA_SUFFIXES):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", stem).lstrip("_.-").rstrip("-")[:128]
    return name or "project"


def _splits(rows: int) -> tuple[dict[str, Any], str]:
    if rows < _SMALL_SPLIT:
        fractions = {"train": 0.7, "eval": 0.2, "test": 0.1}
        why = (
            f"{rows:,} rows is few: eval, on which the model stops early and is measured, gets"
            f" 20% (about {round(rows * 0.2):,} rows) so that its metrics mean something"
        )
    else:
        fractions = {"train": 0.8, "eval": 0.1, "test": 0.1}
        why = (
            f"eval (about {round(rows * 0.1):,} rows) stops training early and measures the model;"
            " test is held out"
        )
    return {"method": "random", **fractions}, "Random rows, the same in every run (seeded). " + why


def _train(rows: int, task: str) -> tuple[dict[str, Any], int, str]:
    # A learning rate of 0.05 was no better than 0.1 on scikit-learn's small datasets,
    # for twice the rounds.
    params: dict[str, Any] = {"n_estimators": 1000, "learning_rate": 0.1}
    if rows < _SMALL_MODEL:
        params.update({"n_estimators": 500, "max_depth": 3})
        stop, why = 50, f"{rows:,} rows is few: shallow trees, patient early stopping"
    else:
        params["max_depth"] = 6
        stop, why = 30, "XGBoost with modest settings"
    params.update({"min_child_weight": 1, "subsample": 0.8, "colsample_bytree": 0.8})
    why += "; sampling rows and columns per tree guards against overfitting"
    if task == "regression":
        # With squared error every row weighs 1, so this is the fewest rows per leaf.
        params["min_child_weight"] = 10 if rows < _SMALL_MODEL else 20
        why += f", as does a leaf of at least {params['min_child_weight']} rows"
    return params, stop, why


_METRICS = {
    "binary": ["roc_auc", "pr_auc", "log_loss", "accuracy", "f1"],
    "multiclass": ["accuracy", "macro_f1", "log_loss", "roc_auc_ovr"],
    # r2 first: the gate compares models on the first metric, with a tolerance in its
    # units, and r2's do not depend on the target's scale as rmse's do.
    "regression": ["r2", "rmse", "mae"],
}


def _check_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(
            f"--name {name!r}: use 1 to 128 letters, digits, '_', '-' or '.', starting with a"
            " letter or digit"
        )
    return name


def infer(
    data_file: Path,
    target: str,
    *,
    folder: Path,
    name: str | None = None,
    task: str = "auto",
    command: str = "",
) -> DataInit:
    """Read ``data_file`` and infer every section of the config (nothing is written).

    Raises
    ------
    ConfigError, DataSourceError
        As :func:`init_from_data`.
    """
    from ..transform import plan_features

    if task not in TASKS:
        raise ConfigError(f"--task {task!r}: expected one of {', '.join(TASKS)}")
    name = _check_name(name) if name is not None else project_name(data_file)
    sample, rows, labelled, con, relation = _read(data_file, target)
    try:
        facts = {col: column_facts(sample.column(col), col) for col in sample.column_names}
        labels, distinct = label_counts(con, relation, facts[target], rows > sample.num_rows)
        tgt = infer_target(facts[target], labels, distinct, task, sample.column_names)
    finally:
        con.close()
    columns = choose_columns(sample, facts, tgt, target)
    if not columns.features:
        raise ConfigError(
            f"{data_file.name}: no column but {target!r} can be a feature ("
            + "; ".join(f"{d.name}: {d.why}" for d in columns.dropped)
            + ")"
        )
    # The features must fit the data as the transform stage sees it: a failure is a bug here.
    specs = [{"name": f.name, "kind": f.kind, "transforms": f.transforms} for f in columns.features]
    plan_features({"columns": specs}, sample.schema, target=target, key=columns.key)

    source, source_note = _source(data_file, folder, target, rows - labelled)
    splits, split_note = _splits(labelled)
    params, stop, train_note = _train(labelled, tgt.task)
    inferred = DataInit(
        file=data_file,
        command=command,
        name=name,
        source=source,
        source_note=source_note,
        rows=rows,
        sampled=sample.num_rows,
        column=target,
        target=tgt.name,
        target_expr=tgt.expr,
        task=tgt.task,
        task_note=tgt.note,
        key=columns.key,
        key_note=columns.key_note,
        features=columns.features,
        dropped=columns.dropped,
        datetimes=[f.name for f in columns.features if f.kind == "datetime"],
        splits=splits,
        split_note=split_note,
        params=params,
        early_stopping_rounds=stop,
        train_note=train_note,
        metrics=list(_METRICS[tgt.task]),
    )
    if labelled < rows:
        inferred.notes.append(f"{count_text(rows - labelled, 'row')} without a target are left out")
    rare = rare_columns([facts[c] for c in sample.column_names], target)
    if rare:
        inferred.on_anomaly = "warn"
        inferred.anomaly_note = (
            f"{values_text(rare, 4)} {'holds' if len(rare) == 1 else 'hold'} values or nulls"
            f" seen fewer than {RARE} times, which the train split may lack: the schema inferred"
            " from it would then stop the run. warn records such anomalies instead; pin a"
            " reviewed schema (`shipyard data schema`, then data.schema) and set fail"
        )
    return inferred


def _source(
    data_file: Path, folder: Path, target: str, unlabelled: int
) -> tuple[dict[str, Any], str]:
    """``data.source``: the file's path relative to ``folder``; a query when rows lack a target."""
    from ..data.sources import resolve_source, sql_literal
    from ..data.splits import quote_ident

    rel = Path(os.path.relpath(data_file.resolve(), folder.resolve())).as_posix()
    if not unlabelled:
        return {"path": rel}, "relative to this file"
    kind = resolve_source({"path": str(data_file.resolve())}, root=folder.resolve()).kind
    reader = {"csv": "read_csv", "parquet": "read_parquet", "jsonl": "read_json"}[kind]
    extra = ", format = 'newline_delimited'" if kind == "jsonl" else ""
    where = f"{quote_ident(target)} IS NOT NULL"
    query = f"SELECT * FROM {reader}({sql_literal(rel)}{extra}) WHERE {where}"  # noqa: S608 - quoted
    note = (
        f"{count_text(unlabelled, 'row')} have no {target!r}: nothing to learn from, so the"
        " query leaves them out (its path is relative to this file)"
    )
    return {"kind": "duckdb", "query": query}, note
