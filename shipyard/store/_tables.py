"""The metadata tables, as SQLAlchemy Core (no ORM: it costs import time and buys nothing here).

The migrations in ``migrations/versions`` create exactly these tables; a test
compares the two so that they never drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

environments = Table(
    "environments",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("python", String(64), nullable=False),
    Column("platform", String(256), nullable=False),
    Column("cpu", String(256), nullable=False),
    Column("packages", Text, nullable=False),  # JSON {name: version}
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("pipeline", String(256), nullable=False),
    Column("source", Text, nullable=False, default=""),  # "file.py:function"
    Column("status", String(16), nullable=False),  # running, succeeded, failed
    Column("seed", Integer, nullable=False, default=0),
    Column("parent_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("resumed_from", String(32), ForeignKey("runs.id"), nullable=True),
    Column("reproduces", String(32), ForeignKey("runs.id"), nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("git_dirty_digest", String(64), nullable=True),
    Column("environment", String(64), ForeignKey("environments.digest"), nullable=True),
    Column("user", String(128), nullable=False, default=""),
    Column("host", String(256), nullable=False, default=""),
    Column("pid", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_runs_created", "created_at"),
    Index("ix_runs_parent", "parent_id"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
)

executions = Table(
    "executions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("node", String(256), nullable=False),  # unique within a run: load, fit, fit_2 ...
    Column("step", String(512), nullable=False),  # module:qualname of the function
    Column("status", String(16), nullable=False),  # running, succeeded, failed, cached, skipped
    Column("cache_key", String(64), nullable=False),
    Column("cache_hit", Boolean, nullable=False, default=False),
    Column("code_digest", String(64), nullable=False),
    Column("params", Text, nullable=False, default="{}"),  # JSON of the step's own parameters
    Column("seed", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("duration_s", Float, nullable=True),
    Column("peak_rss_bytes", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("traceback", Text, nullable=True),
    Column("log_path", Text, nullable=True),
    Index("ix_executions_cache", "cache_key", "status"),
    Index("ix_executions_run", "run_id"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("type", String(64), nullable=False),  # materializer name: json, arrow.table, ...
    Column("python_type", String(256), nullable=False),
    Column("uri", Text, nullable=False),
    Column("size", BigInteger, nullable=False),  # datasets pass 2 GiB
    Column("properties", Text, nullable=False, default="{}"),  # JSON
    Column("unsafe", Boolean, nullable=False, default=False),  # a pickle, loaded only on opt-in
    Column("created_at", Float, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column(
        "execution_id",
        String(32),
        ForeignKey("executions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("kind", String(8), primary_key=True),  # input, output
    Column("name", String(256), primary_key=True),  # parameter name or output index
    Column("artifact", String(64), ForeignKey("artifacts.digest"), nullable=False),
    Index("ix_events_artifact", "artifact"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("execution_id", String(32), nullable=True),
    Column("key", String(256), nullable=False),
    Column("value", Float, nullable=False),
    Column("step", Integer, nullable=False, default=0),
    Column("timestamp", Float, nullable=False),
    Index("ix_metrics_run_key", "run_id", "key"),
)

input_files = Table(
    "input_files",
    metadata,
    Column(
        "execution_id",
        String(32),
        ForeignKey("executions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("path", Text, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
)

# The registry's tables; the registry issue fills them, gc and lineage read them now.
models = Table(
    "models",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(128), ForeignKey("models.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("artifact", String(64), ForeignKey("artifacts.digest"), nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("blessed", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("properties", Text, nullable=False, default="{}"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", String(128), ForeignKey("models.name"), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version", Integer, nullable=False),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("alias", String(128), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("user", String(128), nullable=False),
    Column("at", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
)

# The monitor's tables (migration 0002): one row per reported window of the prediction
# log, and one per automatic action an alert took.
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("ref", Text, nullable=False),  # what was watched: NAME@ALIAS or NAME:VERSION
    Column("versions", Text, nullable=False, default="[]"),  # JSON list of versions seen
    Column("start", Float, nullable=False),  # epoch seconds, inclusive
    Column("end", Float, nullable=False),  # epoch seconds, exclusive
    Column("rows", Integer, nullable=False),
    Column("report", String(64), ForeignKey("artifacts.digest"), nullable=True),
    Column("metrics", Text, nullable=False, default="{}"),  # JSON {name: value or null}
    Column("cursor", Text, nullable=False, default="{}"),  # JSON: where the next window starts
    Column("created_at", Float, nullable=False),
    Index("ix_monitor_windows_model", "model", "ref", "id"),
)

monitor_actions = Table(
    "monitor_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("window_id", Integer, ForeignKey("monitor_windows.id"), nullable=True),
    Column("rule", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=False, default="{}"),  # JSON
    Column("report", String(64), ForeignKey("artifacts.digest"), nullable=True),
    Column("at", Float, nullable=False),
    Index("ix_monitor_actions_model", "model", "at"),
)

__all__ = [
    "aliases",
    "alias_events",
    "artifacts",
    "environments",
    "events",
    "executions",
    "input_files",
    "metadata",
    "metrics",
    "model_versions",
    "models",
    "monitor_actions",
    "monitor_windows",
    "params",
    "run_tags",
    "runs",
]
