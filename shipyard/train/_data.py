"""Checks and settings shared by the trainers: inputs, early stopping, threads, seeds."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DataValidationError
from .base import TASKS, XY, Task, unknown_name

if TYPE_CHECKING:
    import numpy as np

    from .model import TrainedModel


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, as containers set it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def gpu_visible() -> bool:
    """Whether an NVIDIA GPU is visible to this process (no CUDA library is loaded)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "0").strip() in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidia0") or bool(_listdir("/proc/driver/nvidia/gpus"))


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


# How many threads trained a model is a property of the machine, not of the model:
# it is logged with the run but kept out of the model's metadata, so the same model
# trained on another machine is the same artifact (digest).
THREAD_PARAMS = frozenset({"nthread", "n_jobs", "num_threads"})


def model_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` without the thread counts (see :data:`THREAD_PARAMS`)."""
    return {k: v for k, v in params.items() if k not in THREAD_PARAMS}


def library_seed(seed: int) -> int:
    """A seed every library accepts (non-negative, below 2**31)."""
    return int(seed) % (2**31)


@dataclass(frozen=True)
class Data:
    """Checked training inputs: float32 features and labels of matching length."""

    X: np.ndarray
    y: np.ndarray
    X_eval: np.ndarray | None
    y_eval: np.ndarray | None
    feature_names: list[str]
    num_classes: int | None


def check_data(
    train: XY,
    eval: XY | None,
    *,
    task: Task,
    num_classes: int | None,
    feature_names: Sequence[str] | None,
) -> Data:
    """Check shapes and labels; return float32 features and the number of classes.

    Classification labels must be the integers ``0 .. num_classes - 1`` (the transform
    encodes classes so); ``num_classes`` is taken from the labels when not given.

    Raises
    ------
    DataValidationError
        For arrays of the wrong shape, mismatched lengths or labels outside the classes.
    ConfigError
        For an unknown task.
    """
    import numpy as np

    if task not in TASKS:
        raise unknown_name("task", str(task), TASKS, field="train.task")
    X, y = _check_xy(train, "train")
    X_eval = y_eval = None
    if eval is not None:
        X_eval, y_eval = _check_xy(eval, "eval")
        if X_eval.shape[1] != X.shape[1]:
            raise DataValidationError(
                f"the eval split has {X_eval.shape[1]} features; the train split has {X.shape[1]}"
            )
    names = [f"f{i}" for i in range(X.shape[1])] if feature_names is None else list(feature_names)
    if len(names) != X.shape[1]:
        raise DataValidationError(
            f"{len(names)} feature names were given for {X.shape[1]} feature columns"
        )
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise DataValidationError(f"feature names must be unique; repeated: {dupes}")
    if task == "regression":
        return Data(X, y, X_eval, y_eval, names, None)
    labels = y if y_eval is None else np.concatenate([y, y_eval])
    if task == "binary":
        if num_classes not in (None, 2):
            raise ConfigError(
                f"task 'binary' has 2 classes; num_classes is {num_classes}", field="num_classes"
            )
        num_classes = 2
    elif num_classes is None:
        num_classes = int(np.max(labels)) + 1 if labels.size else 0
    if num_classes < 2:
        raise DataValidationError(
            f"task {task!r} needs at least 2 classes; the labels hold {num_classes}"
        )
    bad = labels[(labels < 0) | (labels >= num_classes) | (labels != np.floor(labels))]
    if bad.size:
        raise DataValidationError(
            f"task {task!r} needs labels 0..{num_classes - 1} (integers);"
            f" found {np.unique(bad)[:5].tolist()}"
        )
    return Data(X, y, X_eval, y_eval, names, num_classes)


def check_features(model: TrainedModel, X: Any) -> np.ndarray:
    """``X`` as a 2-D float32 array with the model's number of columns.

    Raises
    ------
    DataValidationError
        When the shape does not match the features the model was trained on.
    """
    import numpy as np

    out: np.ndarray = np.asarray(X, dtype=np.float32)
    if out.ndim != 2 or out.shape[1] != len(model.feature_names):
        raise DataValidationError(
            f"X must have shape (rows, {len(model.feature_names)}), one column per feature"
            f" the model was trained on; its shape is {out.shape}"
        )
    return out


def _check_xy(xy: XY, split: str) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    try:
        X, y = xy
    except (TypeError, ValueError):
        raise DataValidationError(f"the {split} split must be a pair (X, y)") from None
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2:
        raise DataValidationError(f"{split} X must be 2-D (rows, features); its shape is {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise DataValidationError(
            f"{split} y must be 1-D with one label per row of X; shapes {X.shape} and {y.shape}"
        )
    if len(X) == 0:
        raise DataValidationError(f"the {split} split has no rows")
    if not np.issubdtype(y.dtype, np.number) and y.dtype != np.bool_:
        raise DataValidationError(f"{split} y must be numeric; its dtype is {y.dtype}")
    return X, y


def early_stopping(
    from_params: Any, from_config: int | None, eval: XY | None, param: str
) -> int | None:
    """The early-stopping rounds from ``train.early_stopping_rounds`` or the params.

    Raises
    ------
    ConfigError
        When the two disagree, the value is not a positive integer, or there is no
        eval split to stop on.
    """
    if from_params is not None and from_config is not None and from_params != from_config:
        raise ConfigError(
            f"{param} is {from_params} in train.params and {from_config} in"
            " train.early_stopping_rounds; give it once",
            field=f"train.params.{param}",
        )
    rounds = from_config if from_config is not None else from_params
    if rounds is None:
        return None
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise ConfigError(
            f"early_stopping_rounds must be a positive integer; got {rounds!r}",
            field="train.early_stopping_rounds",
        )
    if eval is None:
        raise ConfigError(
            "early stopping needs an eval split, and none was given",
            field="train.early_stopping_rounds",
        )
    return rounds
