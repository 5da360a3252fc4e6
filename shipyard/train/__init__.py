"""Trainers behind one small interface: XGBoost, LightGBM, scikit-learn, user functions.

Each trainer takes NumPy arrays and returns a :class:`TrainedModel`: the
framework's own model plus the metadata needed to use it. Trainers are listed
by name in :data:`TRAINERS` and imported only when chosen, so this package
imports without XGBoost or LightGBM installed.

Examples
--------
>>> from shipyard.train import make_trainer           # doctest: +SKIP
>>> trainer = make_trainer("xgboost")
>>> params = trainer.validate({"max_depth": 4}, "binary")   # errors before training
>>> model = trainer.fit((X, y), (X_val, y_val), params, task="binary", seed=0,
...                     early_stopping_rounds=20)
>>> model.predict(X_test)                             # P(class 1), shape (n,)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import TASKS as TASKS
from .base import TRAINERS as TRAINERS
from .base import XY as XY
from .base import Task as Task
from .base import Trainer as Trainer
from .base import make_trainer as make_trainer
from .base import trainer_for as trainer_for
from .model import TrainedModel as TrainedModel
from .model import TrainedModelMaterializer as TrainedModelMaterializer

if TYPE_CHECKING:
    from ..config import TrainConfig

__all__ = [
    "TASKS",
    "TRAINERS",
    "XY",
    "Task",
    "TrainedModel",
    "TrainedModelMaterializer",
    "Trainer",
    "from_config",
    "make_trainer",
    "trainer_for",
]


def from_config(config: TrainConfig) -> Trainer:
    """The trainer a ``train:`` section describes (``algorithm``, ``estimator``, ``function``).

    Raises
    ------
    ConfigError
        For an algorithm that is unknown or not available yet.
    """
    options: dict[str, Any] = {}
    if config.algorithm == "sklearn" and config.estimator is not None:
        options["estimator"] = config.estimator
    if config.algorithm == "function":
        options["function"] = config.function
    return make_trainer(config.algorithm, **options)
