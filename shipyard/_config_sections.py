"""Sections of ``shipyard.yaml`` for building a model: from project to register.

Public through :mod:`shipyard.config`; the serving side is in ``_config_serve``.
Cross-field checks raise :class:`FieldError` so that the error points at the
line of the key at fault and names both values.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from ._config_types import (
    CONDITION,
    CallableTarget,
    DatabaseURL,
    ImportPath,
    Location,
    Name,
    Section,
    duplicates,
    folder_name,
)
from ._config_yaml import FieldError

# -- project, store, executor -------------------------------------------------------------


class ProjectConfig(Section):
    """What this project is called."""

    name: Name = Field(
        default_factory=lambda: folder_name(Path.cwd()),
        description="Project name; default: the name of the folder holding shipyard.yaml.",
    )
    description: str = Field(default="", description="One line about the project, for the UI.")


class StoreConfig(Section):
    """Where metadata and artifacts are kept."""

    url: DatabaseURL | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store; None: <root>/.shipyard/metadata.db.",
    )
    artifacts: Location | None = Field(
        default=None,
        description="Folder or fsspec URL of the artifact store; None: <root>/.shipyard/artifacts.",
    )
    gc_retention_days: int = Field(
        default=30, ge=0, description="Days gc keeps an artifact that no run or version uses."
    )


class ExecutorConfig(Section):
    """What runs the steps of a pipeline."""

    kind: Literal["local", "inline", "ray"] = Field(
        default="local",
        description="local: processes here; inline: this process, one step at a time; ray: Ray.",
    )
    workers: int | None = Field(
        default=None, ge=1, description="Steps run at once; None: the number of CPUs."
    )
    ray_address: str | None = Field(
        default=None, description="Ray address ('auto', 'ray://host:10001'); kind 'ray' only."
    )
    step_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Seconds a step may run before it is stopped; None: no limit.",
    )
    retries: int = Field(default=0, ge=0, le=100, description="Times a failed step is retried.")

    @model_validator(mode="after")
    def _check(self) -> ExecutorConfig:
        if self.ray_address is not None and self.kind != "ray":
            raise FieldError(
                ("ray_address",),
                f"ray_address={self.ray_address!r} needs kind 'ray'; kind is {self.kind!r}",
            )
        if self.kind == "inline" and self.workers is not None and self.workers > 1:
            raise FieldError(
                ("workers",),
                f"workers={self.workers} needs kind 'local' or 'ray'; kind is 'inline'",
            )
        return self


# -- data and features --------------------------------------------------------------------


class DataSource(Section):
    """Where the training data is read from."""

    kind: Literal["auto", "csv", "parquet", "jsonl", "sql", "duckdb"] = Field(
        default="auto", description="Reader; auto: from the path's suffix, or duckdb for a query."
    )
    path: Location | None = Field(
        default=None, description="File, folder or glob ('data/*.parquet'), or an fsspec URL."
    )
    url: DatabaseURL | None = Field(
        default=None, description="Database URL (kind sql, or a DuckDB database file)."
    )
    table: str | None = Field(default=None, description="Table to read (sql, duckdb).")
    query: str | None = Field(
        default=None, description="SQL query (sql, duckdb); DuckDB file paths are root-relative."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Extra reader options (delimiter, encoding, ...)."
    )

    @model_validator(mode="after")
    def _check(self) -> DataSource:
        if self.table is not None and self.query is not None:
            raise FieldError(("query",), f"give table={self.table!r} or a query, not both")
        if self.kind in ("csv", "parquet", "jsonl"):
            if self.path is None:
                raise FieldError(("path",), f"kind {self.kind!r} needs a path")
            if self.table is not None or self.query is not None:
                field = "table" if self.table is not None else "query"
                raise FieldError(
                    (field,), f"{field} needs kind 'sql' or 'duckdb'; kind is {self.kind!r}"
                )
        elif self.kind == "sql" and (self.url is None or (self.table or self.query) is None):
            raise FieldError(("url",), "kind 'sql' needs a url, and a table or a query")
        elif self.kind == "duckdb" and self.table is None and self.query is None:
            raise FieldError(("query",), "kind 'duckdb' needs a query or a table")
        elif self.kind == "auto" and self.path is None and self.url is None and not self.query:
            raise FieldError(("path",), "a source needs a path, a url or a query")
        return self


class SplitConfig(Section):
    """How rows are split into train, eval and test sets."""

    method: Literal["random", "time", "group"] = Field(
        default="random",
        description="random rows; by time (no future row in training); by group column.",
    )
    train: float = Field(default=0.8, gt=0, le=1, description="Fraction of rows for training.")
    eval: float = Field(
        default=0.1, ge=0, lt=1, description="Fraction for evaluation (tuning, early stopping)."
    )
    test: float = Field(
        default=0.1, ge=0, lt=1, description="Fraction held out for the final evaluation."
    )
    time_column: str | None = Field(default=None, description="Column ordering rows (time).")
    cutoffs: list[datetime] = Field(
        default_factory=list,
        max_length=2,
        description="Method time: end of train [, end of eval], instead of fractions.",
    )
    group_column: str | None = Field(
        default=None, description="Rows sharing its value stay in one split (group)."
    )

    @model_validator(mode="after")
    def _check(self) -> SplitConfig:
        total = self.train + self.eval + self.test
        if abs(total - 1) > 1e-6:
            raise ValueError(
                f"train + eval + test must sum to 1; got train={self.train} + eval={self.eval}"
                f" + test={self.test} = {total:g}"
            )
        for method, field in (("time", "time_column"), ("group", "group_column")):
            value = getattr(self, field)
            if self.method == method and value is None:
                raise FieldError(("method",), f"method {method!r} needs {field}")
            if self.method != method and value is not None:
                raise FieldError(
                    (field,),
                    f"{field}={value!r} needs method {method!r}; method is {self.method!r}",
                )
        if self.cutoffs and self.method != "time":
            raise FieldError(("cutoffs",), f"cutoffs need method 'time'; method is {self.method!r}")
        if len(self.cutoffs) == 2 and self.cutoffs[0] >= self.cutoffs[1]:
            first, second = (c.isoformat() for c in self.cutoffs)
            raise FieldError(("cutoffs",), f"cutoffs must increase; got {first} then {second}")
        return self


class DataConfig(Section):
    """The training data: source, target, task and splits."""

    source: DataSource | None = Field(
        default=None, description="Where rows come from; None: given in Python."
    )
    target: str | None = Field(default=None, description="Column to predict.")
    target_expr: str | None = Field(
        default=None, description="SQL expression deriving the target, e.g. 'arr_delay > 15'."
    )
    task: Literal["auto", "binary", "multiclass", "regression"] = Field(
        default="auto", description="Learning task; auto: inferred from the target."
    )
    key: str | None = Field(default=None, description="Column identifying a row; never a feature.")
    splits: SplitConfig = Field(default_factory=SplitConfig, description="Train/eval/test split.")
    as_of: datetime | None = Field(
        default=None, description="Ignore rows after this time, so that a rerun sees the same data."
    )
    schema_file: Location | None = Field(
        default=None,
        alias="schema",
        description="A pinned schema.yaml to validate against; None: inferred from the train split.",
    )
    on_anomaly: Literal["fail", "warn"] = Field(
        default="fail",
        description="Anomalies of severity error stop the run (fail) or are only recorded (warn).",
    )

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.target_expr is not None and self.target is None:
            raise FieldError(
                ("target_expr",),
                f"target_expr={self.target_expr!r} needs target: the derived column's name",
            )
        if self.key is not None and self.key == self.target:
            raise FieldError(("key",), f"key={self.key!r} is also target={self.target!r}")
        return self


class TransformSpec(Section):
    """One transform of a feature: ``op`` and the op's parameters as sibling keys.

    ``{op: clip, lower: 0}``; the transform stage checks the parameters.
    """

    model_config = ConfigDict(extra="allow")

    op: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Transform name, e.g. impute, clip, log1p, standardize, onehot.",
    )

    @property
    def params(self) -> dict[str, Any]:
        """The op's parameters: every key but ``op``."""
        return dict(self.model_extra or {})


class FeatureSpec(Section):
    """One input column and how it is transformed."""

    name: str = Field(min_length=1, description="Column name.")
    kind: Literal["numeric", "categorical", "datetime", "text"] | None = Field(
        default=None, description="Feature kind; None: inferred from the data."
    )
    transforms: list[TransformSpec] = Field(
        default_factory=list, description="Transforms in order, fitted on the train split."
    )


class CrossSpec(Section):
    """A feature crossing two or more categorical columns."""

    columns: list[str] = Field(min_length=2, description="Columns crossed.")
    name: str | None = Field(default=None, description="Feature name; None: columns joined by _x_.")
    hash_buckets: int | None = Field(
        default=None, ge=1, description="Hash the cross into this many buckets."
    )


class FeaturesConfig(Section):
    """The features: which columns, their kinds and their transforms."""

    columns: list[FeatureSpec] = Field(
        default_factory=list,
        description="Features; empty: every column but target, key and exclude, kinds inferred.",
    )
    exclude: list[str] = Field(default_factory=list, description="Columns never used as features.")
    crosses: list[CrossSpec] = Field(default_factory=list, description="Feature crosses.")

    @model_validator(mode="after")
    def _check(self) -> FeaturesConfig:
        names = [c.name for c in self.columns]
        for name in duplicates(names):
            index = len(names) - 1 - names[::-1].index(name)
            raise FieldError(("columns", index, "name"), f"feature {name!r} is listed twice")
        for index, name in enumerate(names):
            if name in self.exclude:
                raise FieldError(("columns", index, "name"), f"feature {name!r} is also in exclude")
        for index, cross in enumerate(self.crosses):
            for column in cross.columns:
                if column in self.exclude or (names and column not in names):
                    why = "is in exclude" if column in self.exclude else "is not in columns"
                    raise FieldError(("crosses", index, "columns"), f"column {column!r} {why}")
        return self


# -- train, tune, evaluate, register ------------------------------------------------------


class TrainConfig(Section):
    """How the model is trained."""

    algorithm: Literal["xgboost", "lightgbm", "sklearn", "torch", "function"] = Field(
        default="sklearn",
        description="Trainer; sklearn needs no extra package (HistGradientBoosting by default).",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters passed to the algorithm."
    )
    estimator: ImportPath | None = Field(
        default=None,
        description="scikit-learn estimator class, e.g. 'sklearn.linear_model:Ridge'.",
    )
    function: CallableTarget | None = Field(
        default=None, description="'file.py:fn' that trains (algorithm 'function')."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="auto: cuda when available."
    )
    early_stopping_rounds: int | None = Field(
        default=None, ge=1, description="Stop after this many rounds without eval improvement."
    )

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        algorithm = self.algorithm
        if algorithm == "function" and self.function is None:
            raise FieldError(("function",), "algorithm 'function' needs function: 'file.py:fn'")
        if self.function is not None and algorithm != "function":
            raise FieldError(
                ("function",),
                f"function={self.function!r} needs algorithm 'function';"
                f" algorithm is {algorithm!r}",
            )
        if self.estimator is not None and algorithm != "sklearn":
            hint = (
                "; torch trains Shipyard's built-in architectures (params.architecture: mlp"
                " or resnet), so that a bundle holds weights and never code"
                if algorithm == "torch"
                else ""
            )
            raise FieldError(
                ("estimator",),
                f"estimator={self.estimator!r} needs algorithm 'sklearn';"
                f" algorithm is {algorithm!r}{hint}",
            )
        return self


class ParamSpec(Section):
    """The search range of one hyperparameter."""

    type: Literal["int", "float", "categorical"] = Field(description="Kind of values searched.")
    low: int | float | None = Field(default=None, description="Lowest value (int, float).")
    high: int | float | None = Field(default=None, description="Highest value (int, float).")
    log: bool = Field(default=False, description="Sample on a log scale (needs low > 0).")
    step: float | None = Field(default=None, gt=0, description="Spacing of values (int, float).")
    choices: list[Any] | None = Field(
        default=None, min_length=1, description="Values to choose from (categorical)."
    )
    condition: str | None = Field(
        default=None, description="Search only when another param matches: \"booster == 'dart'\"."
    )

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if self.choices is None:
                raise FieldError(("choices",), "type 'categorical' needs choices")
            for name in ("low", "high", "step"):
                if getattr(self, name) is not None:
                    raise FieldError(
                        (name,), f"{name} needs type 'int' or 'float'; type is 'categorical'"
                    )
            if self.log:
                raise FieldError(("log",), "log needs type 'int' or 'float'; type is 'categorical'")
        else:
            self._check_range()
        if self.condition is not None and not CONDITION.fullmatch(self.condition):
            raise FieldError(
                ("condition",),
                f"condition={self.condition!r} is not 'param == value', '!= value' or 'in [...]'",
            )
        return self

    def _check_range(self) -> None:
        if self.choices is not None:
            raise FieldError(
                ("choices",), f"choices need type 'categorical'; type is {self.type!r}"
            )
        if self.low is None or self.high is None:
            missing = "low" if self.low is None else "high"
            raise FieldError((missing,), f"type {self.type!r} needs low and high")
        if self.low >= self.high:
            raise FieldError(("low",), f"low={self.low} must be less than high={self.high}")
        if self.log and self.low <= 0:
            raise FieldError(
                ("low",), f"log=true needs a range above 0; got low={self.low}, high={self.high}"
            )
        if self.type == "int":
            for name in ("low", "high", "step"):
                value = getattr(self, name)
                if value is not None and value != int(value):
                    raise FieldError(
                        (name,), f"{name}={value} must be a whole number for type 'int'"
                    )


class TuneConfig(Section):
    """Hyperparameter search."""

    space: dict[str, ParamSpec] = Field(
        default_factory=dict, description="Param name -> search range; empty: no tuning."
    )
    metric: str | None = Field(
        default=None, description="Metric optimised; None: the first of evaluate.metrics."
    )
    direction: Literal["maximize", "minimize"] | None = Field(
        default=None, description="None: inferred from the metric."
    )
    trials: int = Field(default=20, ge=1, description="Number of trials.")
    timeout_s: float | None = Field(
        default=None, gt=0, description="Start no trial after this many seconds."
    )
    workers: int = Field(default=1, ge=1, description="Trials run at once.")
    sampler: Literal["tpe", "random", "grid", "cmaes"] = Field(
        default="tpe", description="Optuna sampler."
    )
    pruner: Literal["none", "median", "hyperband"] = Field(
        default="median", description="Stops poor trials early."
    )

    @model_validator(mode="after")
    def _check(self) -> TuneConfig:
        for name, spec in self.space.items():
            match = CONDITION.fullmatch(spec.condition or "")
            if match and (match[1] not in self.space or match[1] == name):
                raise FieldError(
                    ("space", name, "condition"),
                    f"condition names {match[1]!r}, which is not another param of space",
                )
            if self.sampler == "cmaes" and spec.type == "categorical":
                raise FieldError(
                    ("sampler",), f"sampler 'cmaes' cannot search categorical param {name!r}"
                )
        return self


class Threshold(Section):
    """Bounds a metric must meet."""

    min: float | None = Field(default=None, description="The metric must be at least this.")
    max: float | None = Field(default=None, description="The metric must be at most this.")

    @model_validator(mode="after")
    def _check(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldError(("min",), f"min={self.min} is above max={self.max}")
        return self


class GateConfig(Section):
    """When a candidate model is good enough to register."""

    thresholds: dict[str, Threshold] = Field(
        default_factory=dict, description="Metric -> {min, max}."
    )
    tolerance: float = Field(
        default=0.0, ge=0, description="How much worse than compare_to a metric may be."
    )
    compare_to: Name | None = Field(
        default="production", description="Alias of the model to beat; None: thresholds only."
    )


class EvaluateConfig(Section):
    """Metrics computed on the test split, and the gate."""

    metrics: list[str] = Field(
        default_factory=list, description="Metric names; empty: the task's defaults."
    )
    slices: list[str] = Field(
        default_factory=list, description="Columns whose values get metrics of their own."
    )
    bootstrap: int = Field(
        default=0, ge=0, le=100_000, description="Resamples for confidence intervals; 0: none."
    )
    gate: GateConfig = Field(default_factory=GateConfig, description="The evaluation gate.")
    threshold: str | float = Field(
        default="f1",
        description="How a binary model's decision threshold is chosen on the eval split:"
        " f1, youden, 'precision>=0.9', 'recall>=0.8', 'fpr<=0.05', or a fixed number.",
    )

    @model_validator(mode="after")
    def _check(self) -> EvaluateConfig:
        from .evaluate.threshold import check_threshold_rule

        try:
            check_threshold_rule(self.threshold)
        except ValueError as exc:
            raise FieldError(("threshold",), str(exc)) from None
        for metric in duplicates(self.metrics):
            raise FieldError(("metrics",), f"metric {metric!r} is listed twice")
        for metric in self.gate.thresholds:
            if self.metrics and metric not in self.metrics:
                raise FieldError(
                    ("gate", "thresholds", metric),
                    f"metric {metric!r} is not in metrics={self.metrics}",
                )
        return self


class RegisterConfig(Section):
    """How a blessed model is registered."""

    model_name: Name | None = Field(
        default=None, description="Registered model name; None: the project name."
    )
    alias: Name | None = Field(
        default=None, description="Alias moved to the new version, e.g. 'production'."
    )
    force: bool = Field(default=False, description="Register even when the gate rejects it.")
    description: str = Field(
        default="", max_length=10_000, description="Free text kept with every version."
    )
    tags: dict[Name, str] = Field(
        default_factory=dict, description="Labels kept with every version, e.g. team: risk."
    )
