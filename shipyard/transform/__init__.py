"""Features: a declarative spec, fitted on the train split, saved as data, applied everywhere.

:func:`plan_features` checks the ``features`` section against the data's
schema; :func:`fit_transform` fits the plan on a Dataset split into a
:class:`FittedTransform` (JSON data); :func:`apply_transform` turns Arrow
batches or JSON rows into a float32 feature matrix, the same way in training,
batch prediction and the server.

Names are imported on first use: the server imports ``shipyard.transform.apply``
alone, which needs NumPy and pyarrow only, and must not pay for the config
models and statistics that planning and fitting use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "CompiledTransform",
    "FeaturePlan",
    "FittedTransform",
    "PlannedFeature",
    "PlannedOp",
    "TransformMaterializer",
    "apply_transform",
    "fit_transform",
    "plan_features",
]

_API = {
    "CompiledTransform": ".apply",
    "FittedTransform": ".apply",
    "apply_transform": ".apply",
    "FeaturePlan": "._plan",
    "PlannedFeature": "._plan",
    "PlannedOp": "._plan",
    "plan_features": "._plan",
    "fit_transform": ".fit",
    "TransformMaterializer": "._materializer",
}

if TYPE_CHECKING:
    from ._materializer import TransformMaterializer as TransformMaterializer
    from ._plan import FeaturePlan as FeaturePlan
    from ._plan import PlannedFeature as PlannedFeature
    from ._plan import PlannedOp as PlannedOp
    from ._plan import plan_features as plan_features
    from .apply import CompiledTransform as CompiledTransform
    from .apply import FittedTransform as FittedTransform
    from .apply import apply_transform as apply_transform
    from .fit import fit_transform as fit_transform


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.transform' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
