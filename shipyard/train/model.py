"""TrainedModel: a framework's model plus what is needed to use it, and its materializer.

The artifact of a train step is one folder: the model in its framework's own safe
format (written by that framework's materializer, so the bytes are the same as for
a bare model) under ``model/``, and the metadata as ``trained_model.json``. One
artifact keeps the two from drifting apart: predictions cannot be read without
the task and the feature order, and a bundle needs both.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import MaterializerError
from ..pipeline.materializers import Materializer
from ._tracking import jsonable
from .base import Task

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TrainedModel", "TrainedModelMaterializer"]

_FORMAT_VERSION = 1


@dataclass
class TrainedModel:
    """A trained model and its metadata.

    Attributes
    ----------
    model
        The framework's own object: ``xgboost.Booster``, ``lightgbm.Booster`` or a
        fitted scikit-learn estimator. Boosters hold exactly the trees up to the best
        iteration, so any tool that loads the saved file predicts what Shipyard does.
    algorithm
        The trainer that made it (``xgboost``, ``lightgbm``, ``sklearn``, ``function``).
    framework, framework_version
        The library the model belongs to, and its version at training time.
    task, num_classes
        ``binary`` (2), ``multiclass`` (k) or ``regression`` (None).
    feature_names
        The columns of ``X``, in order.
    params
        The parameters used, after defaults and normalisation (JSON types).
    best_iteration
        0-based index of the best boosting round when early stopping ran, else None.
    num_iterations
        Boosting rounds in the model (None for models without rounds).
    metrics
        Train and eval metrics at the kept iteration, e.g. ``{"eval_auc": 0.99}``.
    seed
        The seed given to the library.
    source
        The estimator's import path (sklearn) or the user function (function).
    """

    model: Any
    algorithm: str
    framework: str
    framework_version: str
    task: Task
    num_classes: int | None
    feature_names: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    best_iteration: int | None = None
    num_iterations: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    source: str | None = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predict for the rows of ``X``: P(class 1), class probabilities, or values."""
        from .base import trainer_for

        return trainer_for(self).predict(self, X)

    def importances(self) -> dict[str, float]:
        """Importance of each feature (total gain for boosters); empty when unknown."""
        from .base import trainer_for

        return trainer_for(self).importances(self)

    def metadata(self) -> dict[str, Any]:
        """Everything but the model, as JSON types."""
        meta = {k: v for k, v in asdict(self).items() if k != "model"}
        out: dict[str, Any] = jsonable(meta)
        return out

    def __repr__(self) -> str:
        best = "" if self.best_iteration is None else f", best_iteration={self.best_iteration}"
        return (
            f"TrainedModel({self.framework} {type(self.model).__name__}, task={self.task!r},"
            f" features={len(self.feature_names)}{best})"
        )


class TrainedModelMaterializer(Materializer):
    """``model/`` in the framework's safe format plus ``trained_model.json``.

    The framework materializer is chosen by the model's type and recorded by name,
    so that loading needs no pickle and no Shipyard trainer code.
    """

    name = "shipyard.trained_model"
    types: ClassVar[tuple[str, ...]] = ("shipyard.TrainedModel",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        from ..pipeline.materializers import pick

        inner = pick(value.model)
        (folder / "model").mkdir()
        inner_props = inner.save(value.model, folder / "model")
        meta = {
            "format": _FORMAT_VERSION,
            **value.metadata(),
            "model_materializer": inner.name,
            "model_python_type": f"{type(value.model).__module__}.{type(value.model).__qualname__}",
            "model_properties": inner_props,
        }
        (folder / "trained_model.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        return {
            "framework": value.framework,
            "task": value.task,
            "num_features": len(value.feature_names),
            "best_iteration": value.best_iteration,
        }

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        from ..pipeline.materializers import _by_name

        meta = json.loads((folder / "trained_model.json").read_text())
        if meta.get("format") != _FORMAT_VERSION:
            raise MaterializerError(
                f"trained_model.json has format {meta.get('format')!r}; this Shipyard reads"
                f" format {_FORMAT_VERSION}"
            )
        inner = _by_name(meta.pop("model_materializer"))
        if inner.unsafe:
            raise MaterializerError("a TrainedModel never holds a pickled model")
        model = inner.load(
            folder / "model", meta.pop("model_properties"), meta.pop("model_python_type")
        )
        meta.pop("format")
        known = {f for f in TrainedModel.__dataclass_fields__ if f != "model"}
        return TrainedModel(model=model, **{k: v for k, v in meta.items() if k in known})
