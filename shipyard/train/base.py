"""The trainer interface, the table of trainers by name, and what they share.

A trainer turns NumPy arrays into a :class:`~shipyard.train.model.TrainedModel`
through one framework's native API. Each lives in its own module, imported only
when chosen, so that ``shipyard.train`` loads without XGBoost, LightGBM or
PyTorch installed. Third-party trainers register under the ``shipyard.trainers``
entry point group.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, runtime_checkable

from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from .model import TrainedModel

__all__ = [
    "TASKS",
    "TRAINERS",
    "XY",
    "Task",
    "Trainer",
    "make_trainer",
    "trainer_for",
    "unknown_name",
]

Task: TypeAlias = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
XY: TypeAlias = "tuple[np.ndarray, np.ndarray]"
"""Features (2-D, float32) and labels, as NumPy arrays of the same length."""

# name -> "module:Class", imported only when chosen. Names the config accepts but no
# trainer implements yet are listed apart (_PLANNED) so that the error can say so
# instead of "unknown".
TRAINERS: dict[str, str] = {
    "xgboost": "shipyard.train.xgboost:XGBoostTrainer",
    "lightgbm": "shipyard.train.lightgbm:LightGBMTrainer",
    "sklearn": "shipyard.train.sklearn:SklearnTrainer",
    "torch": "shipyard.train.torch:TorchTrainer",
    "function": "shipyard.train.function:FunctionTrainer",
}
_PLANNED: dict[str, str] = {}

# The package each trainer needs, checked when it is made (not imported: that is slow).
_REQUIRES = {"xgboost": "xgboost", "lightgbm": "lightgbm", "sklearn": "sklearn", "torch": "torch"}
_DISTRIBUTION = {
    "xgboost": "xgboost-cpu",
    "lightgbm": "lightgbm",
    "sklearn": "scikit-learn",
    "torch": "torch==2.13.0",
}

# The trainer that can predict with, and explain, a model of each framework. A model
# made by a user function is served by its framework's trainer.
_BY_FRAMEWORK = {
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "sklearn": "sklearn",
    "torch": "torch",
}


@runtime_checkable
class Trainer(Protocol):
    """Trains one kind of model from NumPy arrays.

    Predictions follow one contract for every framework: ``binary`` gives
    P(class 1) with shape ``(n,)``, ``multiclass`` gives probabilities with shape
    ``(n, num_classes)``, ``regression`` gives values with shape ``(n,)``.
    """

    name: str

    def validate(
        self, params: Mapping[str, Any], task: Task, *, num_classes: int | None = None
    ) -> dict[str, Any]:
        """Check ``params`` before any training starts; return them normalised.

        Raises
        ------
        ConfigError
            For a parameter the algorithm does not take (field ``train.params.NAME``,
            with the closest valid name and the list of valid ones) or a value it
            refuses.
        """
        ...

    def fit(
        self,
        train: XY,
        eval: XY | None,
        params: Mapping[str, Any],
        *,
        task: Task,
        num_classes: int | None = None,
        feature_names: Sequence[str] | None = None,
        seed: int = 0,
        early_stopping_rounds: int | None = None,
        device: str = "auto",
    ) -> TrainedModel:
        """Train on ``train``, evaluating (and stopping early) on ``eval``."""
        ...

    def predict(self, model: TrainedModel, X: np.ndarray) -> np.ndarray:
        """Predict for the rows of ``X`` (see the class docstring for shapes)."""
        ...

    def importances(self, model: TrainedModel) -> dict[str, float]:
        """Importance of each feature (total gain for boosters); empty when unknown."""
        ...


def make_trainer(algorithm: str, **options: Any) -> Trainer:
    """Build the trainer called ``algorithm``.

    Parameters
    ----------
    algorithm
        A name in :data:`TRAINERS` or one registered under the ``shipyard.trainers``
        entry point group.
    **options
        Passed to the trainer: ``estimator`` (sklearn), ``function`` (function).

    Raises
    ------
    ConfigError
        For an unknown name (field ``train.algorithm``), listing the valid ones, or
        options the trainer does not take.
    """
    target = TRAINERS.get(algorithm)
    if target is None:
        from importlib.metadata import entry_points

        eps = {ep.name: ep.value for ep in entry_points(group="shipyard.trainers")}
        target = eps.get(algorithm)
        if target is None:
            if algorithm in _PLANNED:
                raise ConfigError(
                    f"algorithm {algorithm!r} is not available yet: {_PLANNED[algorithm]};"
                    f" available: {sorted({*TRAINERS, *eps})}",
                    field="train.algorithm",
                )
            raise unknown_name(
                "algorithm", algorithm, [*TRAINERS, *eps, *_PLANNED], field="train.algorithm"
            )
    package = _REQUIRES.get(algorithm)
    if package is not None and not _installed(package):
        raise ConfigError(
            f"algorithm {algorithm!r} needs the {package!r} package, which is not installed"
            f" (pip install {_DISTRIBUTION[package]})",
            field="train.algorithm",
        )
    module, _, cls = target.partition(":")
    try:
        trainer: Trainer = getattr(import_module(module), cls)(**options)
    except TypeError as exc:
        given = ", ".join(sorted(options)) or "none"
        raise ConfigError(
            f"cannot make the {algorithm!r} trainer with the options given ({given}): {exc}",
            field="train.algorithm",
        ) from None
    return trainer


def _installed(package: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(package) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules holds None or a bare module
        return False


def trainer_for(model: TrainedModel) -> Trainer:
    """The trainer that predicts with ``model`` (by its framework, not its algorithm)."""
    name = _BY_FRAMEWORK.get(model.framework, model.framework)
    return make_trainer(name)


def unknown_name(
    kind: str, name: str, valid: Iterable[str], *, field: str, context: str = ""
) -> ConfigError:
    """A ConfigError for a name not in ``valid``, with the closest match and the list."""
    choices = sorted(set(valid))
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    where = f" {context}" if context else ""
    return ConfigError(
        f"unknown {kind} {name!r}{where}{hint} Valid {kind}s: {', '.join(choices)}",
        field=field,
    )
