"""Train / eval / test assignment as a SQL expression DuckDB evaluates per row.

Random and group splits hash a key (a column, the group column, or the whole
row) with the run seed, so a row's split depends only on the row and the
seed: it is the same in every run and stays put when rows are appended.
The hash is DuckDB's own ``hash()`` (an MD5 of the row was 4x slower than
parsing the file); DuckDB does not promise it across its versions, so the
Dataset records the DuckDB version that split it. Time splits compare a timestamp
column with cut-offs, computed from fractions by one quantile query when no
cut-offs are given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import ConfigError
from .sources import sql_literal

__all__ = ["SPLITS", "split_expression", "quote_ident"]

SPLITS = ("train", "eval", "test")
_BUCKETS = 1_000_000


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fractions(cfg: dict[str, Any]) -> tuple[float, float, float]:
    return float(cfg.get("train", 0.8)), float(cfg.get("eval", 0.1)), float(cfg.get("test", 0.1))


def _by_hash(hashed: str, seed: int, cfg: dict[str, Any]) -> str:
    train, eval_, _ = _fractions(cfg)
    a, b = round(train * _BUCKETS), round((train + eval_) * _BUCKETS)
    bucket = f"(hash({hashed}, {int(seed)}) % {_BUCKETS})"
    return f"CASE WHEN {bucket} < {a} THEN 'train' WHEN {bucket} < {b} THEN 'eval' ELSE 'test' END"


def split_expression(
    cfg: dict[str, Any],
    *,
    seed: int,
    key: str | None,
    columns: list[str],
    cutoffs: list[datetime] | None = None,
) -> str:
    """The SQL ``CASE`` giving each row of relation ``t`` its split.

    Parameters
    ----------
    cfg
        ``data.splits`` as a dict (method, fractions, time_column, cutoffs, group_column).
    seed
        The run seed: another seed, another random split.
    key
        ``data.key``: the column a random split hashes (the whole row without one).
    columns
        The relation's columns, to check that named columns exist.
    cutoffs
        For time splits: the computed or configured cut-offs (one or two).
    """
    method = cfg.get("method", "random")
    for field in ("time_column", "group_column"):
        col = cfg.get(field)
        if col and col not in columns:
            raise ConfigError(
                f"column {col!r} is not in the data; its columns are {columns}",
                field=f"data.splits.{field}",
            )
    if key and key not in columns:
        raise ConfigError(
            f"column {key!r} is not in the data; its columns are {columns}", field="data.key"
        )
    if method == "group":
        return _by_hash(f"t.{quote_ident(cfg['group_column'])}", seed, cfg)
    if method == "random":
        return _by_hash(f"t.{quote_ident(key)}" if key else "t", seed, cfg)
    if method == "time":
        col = f"t.{quote_ident(cfg['time_column'])}"
        cuts = list(cutoffs or [])
        if not cuts:
            raise ConfigError("a time split needs cut-offs", field="data.splits.cutoffs")
        first = sql_literal(cuts[0].isoformat(sep=" "))
        if len(cuts) == 1:
            return f"CASE WHEN {col} IS NULL THEN NULL WHEN {col} < TIMESTAMP {first} THEN 'train' ELSE 'eval' END"
        second = sql_literal(cuts[1].isoformat(sep=" "))
        return (
            f"CASE WHEN {col} IS NULL THEN NULL WHEN {col} < TIMESTAMP {first} THEN 'train'"
            f" WHEN {col} < TIMESTAMP {second} THEN 'eval' ELSE 'test' END"
        )
    raise ConfigError(f"unknown split method {method!r}", field="data.splits.method")


def time_cutoffs_query(cfg: dict[str, Any], relation: str) -> str | None:
    """A query for the cut-offs of a time split given as fractions (None when cut-offs are set)."""
    if cfg.get("method") != "time" or len(cfg.get("cutoffs") or []) == 2:
        return None
    train, eval_, test = _fractions(cfg)
    col = quote_ident(cfg["time_column"])
    qs = [train, train + eval_] if test > 0 else [train]
    return f"SELECT quantile_disc(CAST({col} AS TIMESTAMP), {sql_literal(qs)}) FROM {relation}"
