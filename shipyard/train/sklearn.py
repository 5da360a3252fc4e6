"""Any scikit-learn estimator, named by its import path.

Parameters are checked against the estimator's own ``__init__`` parameters
(``get_params``) and constraints (scikit-learn's parameter validation) before
training. Models are saved through skops, which loads them back without pickle;
that is also why only estimators from scikit-learn itself are accepted: skops
refuses to load types from other packages without trusting them.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ._data import check_data, check_features, cpu_count, library_seed
from ._tracking import MetricSink, log_importances, log_params, score, tracking_active
from .base import XY, Task, unknown_name
from .model import TrainedModel

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DEFAULT_ESTIMATORS", "SklearnTrainer", "sklearn_importances"]

DEFAULT_ESTIMATORS = {
    "binary": "sklearn.ensemble:HistGradientBoostingClassifier",
    "multiclass": "sklearn.ensemble:HistGradientBoostingClassifier",
    "regression": "sklearn.ensemble:HistGradientBoostingRegressor",
}


class SklearnTrainer:
    """A scikit-learn estimator (``algorithm: sklearn``, ``estimator: module:Class``).

    Parameters
    ----------
    estimator
        ``"sklearn.ensemble:HistGradientBoostingClassifier"`` or the dotted
        ``"sklearn.ensemble.HistGradientBoostingClassifier"``; by default
        HistGradientBoosting for the task.

    Notes
    -----
    ``random_state`` gets the seed unless given, and fitting runs in a joblib context
    of as many jobs as CPUs (what ``n_jobs=None`` follows). Early
    stopping maps to the estimator's own (``n_iter_no_change``), which holds out part
    of the train split rather than using the eval split; the eval split is scored
    once after training (``eval_logloss``, ``eval_auc``, ``eval_rmse`` ...).
    """

    name = "sklearn"

    def __init__(self, estimator: str | None = None) -> None:
        self.estimator = estimator

    def validate(
        self, params: Mapping[str, Any], task: Task, *, num_classes: int | None = None
    ) -> dict[str, Any]:
        """Check ``params`` against the estimator's parameters and constraints.

        Raises
        ------
        ConfigError
            For an estimator that cannot be imported, is not a scikit-learn estimator
            or does not fit ``task``; an unknown parameter (with the closest name and
            the list); or a value the estimator's constraints refuse.
        """
        self._build(params, task)
        return dict(params)

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
        """Fit the estimator on ``train`` and score it on ``eval``."""
        import joblib
        import numpy as np
        import sklearn

        data = check_data(
            train, eval, task=task, num_classes=num_classes, feature_names=feature_names
        )
        if device == "cuda":
            raise ConfigError(
                "scikit-learn trains on the CPU; use device: cpu (or auto)", field="train.device"
            )
        est, path = self._build(params, task)
        available = est.get_params(deep=False)
        extra: dict[str, Any] = {}
        if "random_state" in available and "random_state" not in params:
            extra["random_state"] = library_seed(seed)
        if early_stopping_rounds is not None:
            if "n_iter_no_change" not in available:
                raise ConfigError(
                    f"{type(est).__name__} has no early stopping (no n_iter_no_change"
                    " parameter); remove train.early_stopping_rounds",
                    field="train.early_stopping_rounds",
                )
            extra["n_iter_no_change"] = early_stopping_rounds
            if "early_stopping" in available:
                extra["early_stopping"] = True
        est.set_params(**extra)
        used = {**dict(params), **extra}
        log_params(used)
        y = data.y if task == "regression" else data.y.astype(np.int64)
        # n_jobs=None means "as the joblib context says": all CPUs, unless the params say
        # otherwise; setting n_jobs itself would warn where scikit-learn deprecates it.
        with joblib.parallel_config(n_jobs=cpu_count()):
            est.fit(data.X, y)
        model = TrainedModel(
            model=est,
            algorithm=self.name,
            framework="sklearn",
            framework_version=sklearn.__version__,
            task=task,
            num_classes=data.num_classes,
            feature_names=data.feature_names,
            params=used,
            num_iterations=_iterations(est),
            seed=int(extra.get("random_state", params.get("random_state") or 0)),
            source=path,
        )
        model.metrics = score(model, data.X, data.y, data.X_eval, data.y_eval)
        if tracking_active():
            log_curves(est)
        log_importances(self.importances(model))
        return model

    def predict(self, model: TrainedModel, X: np.ndarray) -> np.ndarray:
        """P(class 1) ``(n,)``, class probabilities ``(n, k)`` or values ``(n,)``."""
        import numpy as np

        est = model.model
        X = check_features(model, X)
        if model.task == "regression":
            return np.asarray(est.predict(X)).reshape(len(X))
        proba = np.asarray(est.predict_proba(X))
        k = model.num_classes or 2
        classes = np.asarray(est.classes_).astype(np.int64)
        if len(classes) == k and np.array_equal(classes, np.arange(k)):
            full = proba
        else:  # a class missing from the train split: put its column back, as zeros
            full = np.zeros((len(X), k), dtype=proba.dtype)
            full[:, classes] = proba
        return full[:, 1] if model.task == "binary" else full

    def importances(self, model: TrainedModel) -> dict[str, float]:
        """``feature_importances_``, or the mean absolute ``coef_``; empty for neither."""
        return sklearn_importances(model.model, model.feature_names)

    def _build(self, params: Mapping[str, Any], task: Task) -> tuple[Any, str]:
        path = self.estimator or DEFAULT_ESTIMATORS[task]
        cls = _import(path)
        valid = _param_names(cls)
        top = {k: v for k, v in params.items() if "__" not in k}
        for key in top:
            if key not in valid:
                raise unknown_name(
                    "parameter",
                    key,
                    valid,
                    field=f"train.params.{key}",
                    context=f"for {cls.__name__}",
                )
        try:
            est = cls(**top)
        except TypeError as exc:
            raise ConfigError(
                f"{cls.__name__} cannot be built from the params given: {exc}",
                field="train.params",
            ) from None
        nested = {k: v for k, v in params.items() if "__" in k}
        if nested:
            try:
                est.set_params(**nested)
            except (ValueError, AttributeError) as exc:
                key = next(iter(nested))
                raise ConfigError(str(exc), field=f"train.params.{key}") from None
        _check_values(est)
        _check_task(est, task, path)
        return est, path


def sklearn_importances(est: Any, feature_names: Sequence[str]) -> dict[str, float]:
    """Importances of a fitted estimator by feature name; empty when it has none."""
    import numpy as np

    values = getattr(est, "feature_importances_", None)
    if values is None:
        coef = getattr(est, "coef_", None)
        if coef is None:
            return {}
        coef = np.abs(np.asarray(coef, dtype=np.float64))
        values = coef.mean(axis=0) if coef.ndim == 2 else coef
    values = np.asarray(values, dtype=np.float64).ravel()
    if len(values) != len(feature_names):
        return {}
    return {name: float(v) for name, v in zip(feature_names, values, strict=True)}


def _import(path: str) -> type:
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(
            f"{path!r} is not an import path such as 'sklearn.linear_model:Ridge'",
            field="train.estimator",
        )
    if module_name.partition(".")[0] != "sklearn":
        raise ConfigError(
            f"{path!r} is not from scikit-learn; its saved model could not be loaded back"
            " without trusting its package (skops). Use algorithm: xgboost or lightgbm for"
            " those libraries, or algorithm: function to return one of their models",
            field="train.estimator",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import {module_name!r}: {exc}", field="train.estimator"
        ) from None
    cls = getattr(module, attr, None)
    if cls is None:
        public = sorted(
            n for n, v in vars(module).items() if isinstance(v, type) and not n.startswith("_")
        )
        raise unknown_name(
            "estimator", attr, public, field="train.estimator", context=f"in {module_name}"
        )
    from sklearn.base import BaseEstimator

    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator) and hasattr(cls, "fit")):
        raise ConfigError(
            f"{path!r} is not a scikit-learn estimator (a BaseEstimator with fit)",
            field="train.estimator",
        )
    return cls


def _param_names(cls: type) -> list[str]:
    get = getattr(cls, "_get_param_names", None)
    if callable(get):
        return list(get())
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    return [p for p in sig.parameters if p != "self"]


def _check_values(est: Any) -> None:
    validate = getattr(est, "_validate_params", None)  # scikit-learn >= 1.2
    if not callable(validate):
        return
    try:
        validate()
    except (ValueError, TypeError) as exc:
        match = re.search(r"The '(\w+)' parameter", str(exc))
        field = f"train.params.{match[1]}" if match else "train.params"
        raise ConfigError(str(exc), field=field) from None


def _check_task(est: Any, task: Task, path: str) -> None:
    from sklearn.base import is_classifier, is_regressor

    name = type(est).__name__
    if task == "regression":
        if not is_regressor(est):
            raise ConfigError(
                f"{name} is not a regressor; task 'regression' needs one", field="train.estimator"
            )
        return
    if not is_classifier(est):
        raise ConfigError(
            f"{name} is not a classifier; task {task!r} needs one", field="train.estimator"
        )
    if not hasattr(est, "predict_proba"):
        raise ConfigError(
            f"{name} (with these params) has no predict_proba, and task {task!r} predicts"
            " probabilities; wrap it in sklearn.calibration:CalibratedClassifierCV or set"
            " its probability option",
            field="train.estimator",
        )


def _iterations(est: Any) -> int | None:
    import numpy as np

    for attr in ("n_iter_", "n_estimators_"):
        value = getattr(est, attr, None)
        if value is not None:
            return int(np.max(value))
    return None


def log_curves(est: Any) -> None:
    """Per-iteration scores some estimators keep (gradient boosting, MLP)."""
    import numpy as np

    sink = MetricSink()
    for attr in ("train_score_", "validation_score_", "loss_curve_", "validation_scores_"):
        values = getattr(est, attr, None)
        if values is None:
            continue
        for i, v in enumerate(np.asarray(values, dtype=np.float64).ravel()):
            sink.add(attr.rstrip("_"), float(v), i)
    sink.flush()
