"""Autolog: plain XGBoost, LightGBM and scikit-learn training, logged without user code.

After :func:`enable`, a call of ``xgboost.train``, ``lightgbm.train`` (and their
scikit-learn wrappers, which call them) or any scikit-learn estimator's ``fit``
made inside a running step or ``with shipyard.start_run():`` logs

- its parameters (``log_param``),
- its curves: each round's metrics as ``<data>_<metric>`` with step = round for
  the boosters; ``train_score``/``validation_score``/``loss_curve`` where a
  scikit-learn estimator keeps them,
- its feature importances as the metrics ``importance.<feature>`` (total gain
  for the boosters; ``feature_importances_`` or mean ``|coef_|`` for scikit-learn).

Outside a step or run nothing is logged and nothing is slowed beyond a check.
Only the outermost call logs: a grid search logs once, not once per fit inside
it. Shipyard's own trainers log for themselves and run with autolog suspended.

Examples
--------
>>> from shipyard.train import autolog          # doctest: +SKIP
>>> autolog.enable()
>>> with shipyard.start_run():
...     booster = xgboost.train(params, dtrain, 50, evals=[(dvalid, "eval")])
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ._tracking import MetricSink, log_importances, log_params, tracking_active

__all__ = ["disable", "enable", "is_enabled", "suspended"]

# (owner object, attribute, the original) for each patch, to undo them in disable().
_PATCHES: list[tuple[Any, str, Any]] = []
_SUSPENDED: contextvars.ContextVar[bool] = contextvars.ContextVar("autolog_off", default=False)
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("autolog_inside", default=False)

# Where each framework's training function is reachable: the scikit-learn wrappers
# import it by name into their own modules, so each binding is patched.
_TRAIN_FUNCTIONS = {
    "xgboost": ("xgboost", "xgboost.training", "xgboost.sklearn"),
    "lightgbm": ("lightgbm", "lightgbm.engine", "lightgbm.sklearn"),
}


def enable(*, xgboost: bool = True, lightgbm: bool = True, sklearn: bool = True) -> None:
    """Patch the installed frameworks so that their training logs itself.

    Frameworks that are not installed are skipped. Calling it again re-enables
    with the new choice.
    """
    disable()
    if xgboost and _installed("xgboost"):
        _patch_train("xgboost", _xgboost_wrapper)
    if lightgbm and _installed("lightgbm"):
        _patch_train("lightgbm", _lightgbm_wrapper)
    if sklearn and _installed("sklearn"):
        _patch_sklearn()


def disable() -> None:
    """Undo every patch :func:`enable` made."""
    while _PATCHES:
        owner, attr, original = _PATCHES.pop()
        setattr(owner, attr, original)


def is_enabled() -> bool:
    """Whether any framework is patched."""
    return bool(_PATCHES)


@contextmanager
def suspended() -> Iterator[None]:
    """Turn autolog off in this context (Shipyard's trainers log for themselves)."""
    token = _SUSPENDED.set(True)
    try:
        yield
    finally:
        _SUSPENDED.reset(token)


def _should_log() -> bool:
    return not _SUSPENDED.get() and not _INSIDE.get() and tracking_active()


@contextmanager
def _outermost() -> Iterator[None]:
    token = _INSIDE.set(True)
    try:
        yield
    finally:
        _INSIDE.reset(token)


def _installed(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _patch_train(framework: str, make_wrapper: Callable[[Any], Any]) -> None:
    original = importlib.import_module(framework).train
    wrapper = make_wrapper(original)
    for module_name in _TRAIN_FUNCTIONS[framework]:
        module = importlib.import_module(module_name)
        if getattr(module, "train", None) is original:
            _PATCHES.append((module, "train", original))
            module.train = wrapper  # type: ignore[attr-defined]


def _xgboost_wrapper(original: Any) -> Any:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        if not _should_log():
            return original(*args, **kwargs)
        from .xgboost import booster_importances, booster_kind, curve_callback

        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        with _outermost():
            log_params(
                {
                    **dict(a["params"] or {}),
                    "num_boost_round": a.get("num_boost_round"),
                    "early_stopping_rounds": a.get("early_stopping_rounds"),
                }
            )
            history: dict[str, list[float]] = {}
            sink = MetricSink()
            a["callbacks"] = [*(a["callbacks"] or ()), curve_callback(history, sink)]
            try:
                booster = original(*bound.args, **bound.kwargs)
            finally:
                sink.flush()
            if booster_kind(booster) != "gblinear":  # a linear booster has weights, not gains
                names = booster.feature_names or [f"f{i}" for i in range(booster.num_features())]
                log_importances(booster_importances(booster, names))
            return booster

    return train


def _lightgbm_wrapper(original: Any) -> Any:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        if not _should_log():
            return original(*args, **kwargs)
        from .lightgbm import curve_callback

        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        with _outermost():
            log_params({"num_boost_round": a.get("num_boost_round"), **dict(a["params"] or {})})
            history: dict[str, list[float]] = {}
            sink = MetricSink()
            a["callbacks"] = [*(a["callbacks"] or ()), curve_callback(history, sink)]
            try:
                booster = original(*bound.args, **bound.kwargs)
            finally:
                sink.flush()
            gains = booster.feature_importance(importance_type="gain")
            log_importances(
                {n: float(g) for n, g in zip(booster.feature_name(), gains, strict=True)}
            )
            return booster

    return train


def _patch_sklearn() -> None:
    from sklearn.utils import all_estimators

    patched: set[type] = set()
    for _, cls in all_estimators():
        # Patch the class that defines fit (often a private base such as
        # BaseGradientBoosting), once, so every estimator inheriting it is covered.
        owner = next((c for c in cls.__mro__ if "fit" in c.__dict__), None)
        if owner is None or owner in patched or not callable(owner.__dict__["fit"]):
            continue
        patched.add(owner)
        fit = owner.__dict__["fit"]
        _PATCHES.append((owner, "fit", fit))
        owner.fit = _sklearn_wrapper(fit)


def _sklearn_wrapper(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _should_log():
            return original(self, *args, **kwargs)
        from .sklearn import log_curves, sklearn_importances

        with _outermost():
            params = self.get_params(deep=True)
            log_params(
                {
                    k: v
                    for k, v in params.items()
                    if v is None or isinstance(v, bool | int | float | str)
                }
            )
            result = original(self, *args, **kwargs)
            log_curves(self)
            n = getattr(self, "n_features_in_", None)
            names = getattr(self, "feature_names_in_", None)
            if names is None and n is not None:
                names = [f"x{i}" for i in range(n)]
            if names is not None:
                log_importances(sklearn_importances(self, [str(v) for v in names]))
            return result

    return fit
