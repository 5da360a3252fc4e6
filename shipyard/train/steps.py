"""The transform and train steps of the standard pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..data.dataset import Dataset
from ..errors import ConfigError
from ..pipeline.context import current_seed, log_metric, log_param
from ..pipeline.step import step

__all__ = ["features_and_labels", "fit_features", "infer_task", "train_model"]


def infer_task(dataset: Dataset, target: str, configured: str = "auto") -> tuple[Any, int | None]:
    """The task from ``data.task``, or from the target column of the train split."""
    if target not in dataset.schema.names:
        raise ConfigError(
            f"target {target!r} is not a column of the data; its columns are {dataset.schema.names}",
            field="data.target",
        )
    col = dataset.to_table("train", columns=[target]).column(0)
    kind = col.type
    if configured == "regression":
        return "regression", None
    if pa.types.is_boolean(kind):
        return ("binary", 2) if configured in ("auto", "binary") else (configured, 2)
    values = pc.unique(col.drop_null()).to_pylist()
    if configured == "auto":
        if pa.types.is_floating(kind) and not all(float(v).is_integer() for v in values[:1000]):
            return "regression", None
        if len(values) <= 2:
            return "binary", 2
        if len(values) <= 50:
            return "multiclass", len(values)
        return "regression", None
    return configured, (len(values) if configured == "multiclass" else 2)


def features_and_labels(
    transform: Any, dataset: Dataset, split: str, target: str, task: str
) -> tuple[np.ndarray, np.ndarray]:
    """The feature matrix (the training path: out of fold on the fitted split) and labels."""
    xs, ys = [], []
    for x, batch in transform.iter_features(dataset, split):
        xs.append(x)
        y = batch.column(batch.schema.get_field_index(target))
        ys.append(y.to_numpy(zero_copy_only=False))
    if not xs:
        return np.zeros((0, len(transform.feature_names)), np.float32), np.zeros(0)
    y_all = np.concatenate(ys)
    if task == "regression":
        return np.concatenate(xs), y_all.astype(np.float64)
    return np.concatenate(xs), y_all.astype(np.int64)


@step
def fit_features(
    dataset: Dataset,
    statistics: Any,
    features: dict[str, Any],
    target: str | None = None,
    key: str | None = None,
    anomalies: Any = None,
) -> Any:
    """Plan the features from config and data, and fit them on the train split.

    ``anomalies`` is the validation step's output: passing it makes training wait
    for (and stop on) validation.
    """
    from ..transform import fit_transform, plan_features

    plan = plan_features(features, dataset.schema, target=target, key=key)
    fitted = fit_transform(
        plan, dataset, statistics=statistics, target_column=target, seed=current_seed()
    )
    log_param("features", len(fitted.feature_names))
    return fitted


@step(packages=("xgboost-cpu", "lightgbm", "scikit-learn", "torch"))
def train_model(
    dataset: Dataset,
    transform: Any,
    train: dict[str, Any],
    target: str,
    task: str = "auto",
) -> Any:
    """Train on the train split with early stopping on the eval split; curves are logged."""
    from ..config import TrainConfig
    from ..train import from_config

    cfg = TrainConfig.model_validate(train)
    task_name, num_classes = infer_task(dataset, target, task)
    trainer = from_config(cfg)
    params = trainer.validate(dict(cfg.params), task_name, num_classes=num_classes)
    x_train, y_train = features_and_labels(transform, dataset, "train", target, task_name)
    has_eval = "eval" in dataset.splits and dataset.num_rows("eval") > 0
    evalset = (
        features_and_labels(transform, dataset, "eval", target, task_name) if has_eval else None
    )
    log_param("task", task_name)
    log_param("algorithm", cfg.algorithm)
    model = trainer.fit(
        (x_train, y_train),
        evalset,
        params,
        task=task_name,
        num_classes=num_classes,
        feature_names=list(transform.feature_names),
        seed=current_seed(),
        early_stopping_rounds=cfg.early_stopping_rounds if evalset is not None else None,
        device=cfg.device,
    )
    if model.best_iteration is not None:
        log_metric("best_iteration", model.best_iteration)
    return model
