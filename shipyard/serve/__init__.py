"""The model server: bundles served over the Open Inference Protocol V2, MLflow's and a plain protocol.

See ``docs/serving.md``. Importing this package pulls in no training, tuning,
pipeline, pandas, DuckDB or SQLAlchemy code: a worker starts fast and small,
and a framework (XGBoost, LightGBM ...) is imported only when a bundle needs it.
"""

from __future__ import annotations

from ._model import ServedModel as ServedModel
from ._model import threads_per_worker as threads_per_worker
from ._run import ModelSource as ModelSource
from ._run import ServePlan as ServePlan
from .app import ServeSettings as ServeSettings
from .app import create_app as create_app

__all__ = [
    "ModelSource",
    "ServePlan",
    "ServeSettings",
    "ServedModel",
    "create_app",
    "threads_per_worker",
]
