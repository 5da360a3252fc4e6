"""A user's own training function: ``train(train, eval, params) -> model``.

The function gets ``train=(X, y)``, ``eval=(X, y)`` or None, and ``params`` (the
config's ``train.params``, unchecked), plus any of ``task``, ``num_classes``,
``feature_names``, ``seed``, ``early_stopping_rounds`` and ``device`` that it
declares by name. It returns a model Shipyard can save safely and predict with:
an ``xgboost.Booster`` or ``XGBModel``, a ``lightgbm.Booster`` or ``LGBMModel``, or
a fitted scikit-learn estimator. Prediction and importances then go through that
framework's trainer.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import linecache
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ._data import check_data, library_seed
from ._tracking import log_importances, log_params, score
from .base import XY, Task, trainer_for
from .model import TrainedModel

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FunctionTrainer", "load_function"]

_OPTIONAL = ("task", "num_classes", "feature_names", "seed", "early_stopping_rounds", "device")
_SUPPORTED = (
    "xgboost.Booster, xgboost.XGBModel (XGBClassifier, XGBRegressor ...), lightgbm.Booster,"
    " lightgbm.LGBMModel (LGBMClassifier ...), or a fitted scikit-learn estimator"
)


class FunctionTrainer:
    """Trains with a user function (``algorithm: function``, ``function: file.py:fn``).

    Parameters
    ----------
    function
        ``path/to/file.py:fn`` (relative to ``base``) or ``package.module:fn``.
    base
        The folder relative file paths start from (the working directory by default).
    """

    name = "function"

    def __init__(self, function: str, base: Path | None = None) -> None:
        self.function = function
        self.base = base

    def validate(
        self, params: Mapping[str, Any], task: Task, *, num_classes: int | None = None
    ) -> dict[str, Any]:
        """Import the function and check that it takes ``(train, eval, params)``.

        The params belong to the function and are passed through unchecked.
        """
        load_function(self.function, base=self.base)
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
        """Call the function and wrap what it returns.

        Raises
        ------
        ConfigError
            When the function returns something that is not a supported model, or a
            model whose predictions do not fit ``task`` (field ``train.function``).
        """
        fn = load_function(self.function, base=self.base)
        data = check_data(
            train, eval, task=task, num_classes=num_classes, feature_names=feature_names
        )
        optional = {
            "task": task,
            "num_classes": data.num_classes,
            "feature_names": list(data.feature_names),
            "seed": library_seed(seed),
            "early_stopping_rounds": early_stopping_rounds,
            "device": device,
        }
        accepted = inspect.signature(fn).parameters
        takes_all = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        kwargs = {k: v for k, v in optional.items() if takes_all or k in accepted}
        log_params(dict(params))
        evaluation = None if data.X_eval is None else (data.X_eval, data.y_eval)
        result = fn((data.X, data.y), evaluation, dict(params), **kwargs)
        framework, native, best = _unwrap(result, self.function)
        model = TrainedModel(
            model=native,
            algorithm=self.name,
            framework=framework,
            framework_version=_version(framework),
            task=task,
            num_classes=data.num_classes,
            feature_names=data.feature_names,
            params=dict(params),
            best_iteration=best,
            num_iterations=_rounds(framework, native),
            seed=library_seed(seed),
            source=self.function,
        )
        _check_predictions(model, data.X[:8], self.function)
        model.metrics = score(model, data.X, data.y, data.X_eval, data.y_eval)
        log_importances(model.importances())
        return model

    def predict(self, model: TrainedModel, X: np.ndarray) -> np.ndarray:
        """Predict through the trainer of the model's framework."""
        return trainer_for(model).predict(model, X)

    def importances(self, model: TrainedModel) -> dict[str, float]:
        """Importances through the trainer of the model's framework."""
        return trainer_for(model).importances(model)


def load_function(target: str, *, base: Path | None = None) -> Callable[..., Any]:
    """Import ``file.py:fn`` (afresh, as the pipeline loader does) or ``module:fn``.

    Raises
    ------
    ConfigError
        For a missing file, module or name, or a function that cannot take
        ``(train, eval, params)`` (field ``train.function``).
    """
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr.isidentifier():
        raise ConfigError(
            f"{target!r} is not 'path/to/file.py:function' or 'package.module:function'",
            field="train.function",
        )
    if module_part.endswith(".py") or "/" in module_part:
        path = Path(module_part)
        path = (path if path.is_absolute() else (base or Path.cwd()) / path).resolve()
        if not path.is_file():
            raise ConfigError(f"no file {path}", field="train.function")
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # so the file can import its neighbours
        # Executed afresh each time, so that an edited file is what runs (and what the
        # step's code fingerprint describes); it is not put in sys.modules.
        linecache.checkcache(str(path))
        spec = importlib.util.spec_from_file_location(f"_shipyard_train_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {path}", field="train.function")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise ConfigError(
                f"cannot import {module_part!r}: {exc}", field="train.function"
            ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        found = sorted(
            k for k, v in vars(module).items() if inspect.isfunction(v) and not k.startswith("_")
        )
        what = "is missing" if fn is None else f"is a {type(fn).__name__}, not a function"
        raise ConfigError(
            f"{attr!r} {what} in {module_part}; functions there: {found or 'none'}",
            field="train.function",
        )
    declared = inspect.signature(fn).parameters
    try:
        inspect.signature(fn).bind(None, None, {}, **{k: None for k in _OPTIONAL if k in declared})
    except TypeError:
        raise ConfigError(
            f"{target} must take (train, eval, params); its signature is"
            f" {attr}{inspect.signature(fn)}",
            field="train.function",
        ) from None
    return fn  # type: ignore[no-any-return]


def _unwrap(result: Any, target: str) -> tuple[str, Any, int | None]:
    """(framework, the model to save, best iteration) of what a function returned."""
    names = {f"{c.__module__.partition('.')[0]}.{c.__qualname__}" for c in type(result).__mro__}
    if "xgboost.XGBModel" in names:
        result = result.get_booster()
        names = {"xgboost.Booster"}
    if "xgboost.Booster" in names:
        best_attr = result.attr("best_iteration")
        best = None if best_attr is None else int(best_attr)
        if best is not None and best + 1 < result.num_boosted_rounds():
            result = result[: best + 1]  # the rounds up to the best, as the xgboost trainer
        return "xgboost", result, best
    if "lightgbm.LGBMModel" in names:
        result = result.booster_
        names = {"lightgbm.Booster"}
    if "lightgbm.Booster" in names:
        import lightgbm

        best = result.best_iteration if result.best_iteration > 0 else None
        if best is not None and best < result.current_iteration():
            result = lightgbm.Booster(model_str=result.model_to_string(num_iteration=best))
        return "lightgbm", result, None if best is None else best - 1
    if "sklearn.BaseEstimator" in names:
        if type(result).__module__.partition(".")[0] != "sklearn":
            raise ConfigError(
                f"{target} returned a {type(result).__qualname__}, a scikit-learn-compatible"
                " estimator from outside scikit-learn, which skops cannot load back without"
                f" trusting its package; return one of: {_SUPPORTED}",
                field="train.function",
            )
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(result)
        except NotFittedError:
            raise ConfigError(
                f"{target} returned a {type(result).__name__} that is not fitted; call its"
                " fit() before returning it",
                field="train.function",
            ) from None
        return "sklearn", result, None
    raise ConfigError(
        f"{target} returned a {type(result).__module__}.{type(result).__qualname__};"
        f" expected a model Shipyard can save safely: {_SUPPORTED}",
        field="train.function",
    )


def _version(framework: str) -> str:
    # The framework is imported already: the model is one of its objects.
    return str(getattr(sys.modules.get(framework), "__version__", ""))


def _rounds(framework: str, native: Any) -> int | None:
    if framework == "xgboost":
        return int(native.num_boosted_rounds())
    if framework == "lightgbm":
        return int(native.current_iteration())
    return None


def _check_predictions(model: TrainedModel, X: np.ndarray, target: str) -> None:
    import numpy as np

    try:
        out = np.asarray(model.predict(X))
    except Exception as exc:
        raise ConfigError(
            f"{target} returned a {model.framework} model that cannot predict for task"
            f" {model.task!r}: {type(exc).__name__}: {exc}",
            field="train.function",
        ) from None
    n = len(X)
    expected: tuple[int, ...] = (n, model.num_classes or 0) if model.task == "multiclass" else (n,)
    if model.task == "regression":
        problem = "" if out.shape == expected else f"shape {out.shape}"
    elif out.shape != expected:
        problem = f"shape {out.shape}"
    else:
        problem = "" if ((out >= 0) & (out <= 1)).all() else "values outside [0, 1]"
    if problem:
        what = "values" if model.task == "regression" else "probabilities"
        raise ConfigError(
            f"{target} returned a model whose predictions have {problem}; task"
            f" {model.task!r} needs {what} of shape {expected} (binary: P(class 1);"
            " with XGBoost use objective binary:logistic or multi:softprob)",
            field="train.function",
        )
