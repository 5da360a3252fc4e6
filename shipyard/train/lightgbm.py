"""LightGBM through its native API: ``lightgbm.train`` on a Dataset.

Parameter names are checked against LightGBM's own table of parameters and
aliases (``lightgbm.basic._ConfigAliases``, read from the C++ library), and
aliases are replaced by their canonical names, so ``eta`` and ``learning_rate``
are recorded alike. Values are checked by configuring a Booster on a tiny
Dataset before training starts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import autolog
from ._data import (
    check_data,
    check_features,
    cpu_count,
    early_stopping,
    library_seed,
    model_params,
)
from ._tracking import MetricSink, curve_point, log_importances, log_params, tracking_active
from .base import XY, Task, unknown_name
from .model import TrainedModel

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LightGBMTrainer"]

DEFAULT_ROUNDS = 100

_OBJECTIVE = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}
# Shipyard's own switches, taken out before LightGBM sees the parameters.
_OWN = ("watch_train",)
# The first metric is the one early stopping watches.
# The loss only: each metric is computed on the eval split every round (see xgboost.py).
_METRICS = {"binary": ["binary_logloss"], "multiclass": ["multi_logloss"], "regression": ["rmse"]}
# Objectives (with LightGBM's aliases) whose predictions are what the task promises.
_OBJECTIVES: dict[str, tuple[str, ...]] = {
    "binary": ("binary", "cross_entropy", "xentropy"),
    "multiclass": ("multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr"),
    "regression": (
        "regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root",
        "root_mean_squared_error", "rmse", "regression_l1", "l1", "mean_absolute_error", "mae",
        "huber", "fair", "poisson", "quantile", "mape", "mean_absolute_percentage_error",
        "gamma", "tweedie",
    ),
}  # fmt: skip


class LightGBMTrainer:
    """Gradient-boosted trees with LightGBM (``algorithm: lightgbm``).

    Parameters are LightGBM's (any alias; recorded under the canonical name), plus
    ``watch_train`` (score the train split every round too, for its curve; default
    false when there is an eval split).
    Defaults: the task's objective and its loss as the metric (binary_logloss,
    multi_logloss, rmse; add others with ``metric``), ``num_iterations: 100``, ``num_threads`` = the CPUs available,
    ``deterministic`` with ``force_col_wise`` (the same model for the same seed), no
    console output, and the seed given to :meth:`fit`.
    """

    name = "lightgbm"

    def validate(
        self, params: Mapping[str, Any], task: Task, *, num_classes: int | None = None
    ) -> dict[str, Any]:
        """Check names against LightGBM's table and values with LightGBM itself.

        Raises
        ------
        ConfigError
            For a name LightGBM does not know (with the closest valid name and the
            list), an alias given twice, a refused value, or an objective that does
            not fit ``task``.
        """
        watch = params.get("watch_train")
        if watch is not None and not isinstance(watch, bool):
            raise ConfigError(
                f"watch_train must be true or false; got {watch!r}",
                field="train.params.watch_train",
            )
        p = _canonical(params)
        objective = p.setdefault("objective", _OBJECTIVE[task])
        if not isinstance(objective, str) or objective not in _OBJECTIVES[task]:
            raise unknown_name(
                "objective",
                str(objective),
                _OBJECTIVES[task],
                field="train.params.objective",
                context=f"for task {task!r}",
            )
        if objective == _OBJECTIVE[task]:
            p.setdefault("metric", list(_METRICS[task]))
        user_classes = p.get("num_class")
        if task == "multiclass":
            if num_classes is not None and user_classes not in (None, num_classes):
                raise ConfigError(
                    f"num_class is {user_classes} but the labels have {num_classes} classes",
                    field="train.params.num_class",
                )
            p["num_class"] = num_classes or user_classes or 3  # 3: any valid count, to probe
        p.setdefault("num_iterations", DEFAULT_ROUNDS)
        p.setdefault("verbosity", -1)
        p.setdefault("deterministic", True)
        if "force_row_wise" not in p:
            # Otherwise LightGBM times both layouts and picks one, which differs by run.
            p.setdefault("force_col_wise", True)
        _probe(p, task, given=params)
        if task == "multiclass" and num_classes is None and user_classes is None:
            del p["num_class"]  # fit sets it from the labels
        return p

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
        """Train with ``lightgbm.train``, stopping early on the eval split's first metric.

        Each iteration's metrics are logged as ``train_<metric>`` and ``eval_<metric>``
        (step = iteration) when a step or tracked run is active.
        """
        import lightgbm

        params = _canonical(params)
        if task == "multiclass" and num_classes is None:
            num_classes = params.get("num_class")
        data = check_data(
            train, eval, task=task, num_classes=num_classes, feature_names=feature_names
        )
        params.setdefault("device_type", _device(device))
        p = self.validate(params, task, num_classes=data.num_classes)
        rounds = int(p.pop("num_iterations"))
        stop = early_stopping(
            p.pop("early_stopping_round", None), early_stopping_rounds, eval, "early_stopping_round"
        )
        p.setdefault("seed", library_seed(seed))
        p.setdefault("num_threads", cpu_count())
        dtrain = lightgbm.Dataset(
            data.X, label=data.y, feature_name=data.feature_names, free_raw_data=True
        )
        # The train split is scored every round only when asked (or when there is no eval
        # split): on a large train split that costs as much as the training itself.
        watch = bool(p.pop("watch_train", False)) or data.X_eval is None
        valid_sets, valid_names = ([dtrain], ["train"]) if watch else ([], [])
        if data.X_eval is not None:
            valid_sets.append(lightgbm.Dataset(data.X_eval, label=data.y_eval, reference=dtrain))
            valid_names.append("eval")
        history: dict[str, list[float]] = {}
        sink = MetricSink() if tracking_active() else None
        callbacks = [curve_callback(history, sink)]
        if stop:
            callbacks.append(lightgbm.early_stopping(stop, first_metric_only=True, verbose=False))
        recorded = {**p, "num_iterations": rounds, "early_stopping_round": stop}
        log_params(recorded)
        try:
            with autolog.suspended():
                booster = lightgbm.train(
                    p,
                    dtrain,
                    num_boost_round=rounds,
                    valid_sets=valid_sets,
                    valid_names=valid_names,
                    callbacks=callbacks,
                )
        finally:
            if sink is not None:
                sink.flush()
        # lightgbm.train returns a booster holding only the trees up to the best iteration
        # (it reloads the model it trained), so the saved text predicts the same anywhere.
        kept = booster.current_iteration()
        best = booster.best_iteration - 1 if stop and booster.best_iteration > 0 else None
        model = TrainedModel(
            model=booster,
            algorithm=self.name,
            framework="lightgbm",
            framework_version=lightgbm.__version__,
            task=task,
            num_classes=data.num_classes,
            feature_names=data.feature_names,
            params=model_params(recorded),
            best_iteration=best,
            num_iterations=kept,
            metrics={k: v[kept - 1] for k, v in history.items() if len(v) >= kept > 0},
            seed=int(p["seed"]),
        )
        log_importances(self.importances(model))
        return model

    def predict(self, model: TrainedModel, X: np.ndarray) -> np.ndarray:
        """P(class 1) ``(n,)``, class probabilities ``(n, k)`` or values ``(n,)``."""
        import numpy as np

        out = model.model.predict(check_features(model, X))
        return np.asarray(out)

    def importances(self, model: TrainedModel) -> dict[str, float]:
        """Total gain of each feature's splits (0 for unused features)."""
        gains = model.model.feature_importance(importance_type="gain")
        return {name: float(g) for name, g in zip(model.feature_names, gains, strict=True)}


def curve_callback(history: dict[str, list[float]], sink: MetricSink | None) -> Any:
    """A LightGBM callback recording each iteration's metrics as ``<data>_<metric>``."""

    def _curves(env: Any) -> None:
        for item in env.evaluation_result_list or ():
            data, metric, value = item[0], item[1], float(item[2])
            key = f"{data}_{metric}"
            history.setdefault(key, []).append(value)
            curve_point(sink, key, value, env.iteration - env.begin_iteration)

    _curves.order = 15  # type: ignore[attr-defined]  # before early stopping (30) stops the loop
    return _curves


# -- parameters ------------------------------------------------------------------------


@functools.cache
def _aliases() -> dict[str, str]:
    """Every name LightGBM accepts -> its canonical name."""
    from lightgbm.basic import _ConfigAliases

    table: dict[str, list[str]] = _ConfigAliases._get_all_param_aliases()
    return {alias: name for name, aliases in table.items() for alias in {name, *aliases}}


def _canonical(params: Mapping[str, Any]) -> dict[str, Any]:
    aliases = _aliases()
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in params.items():
        name = key if key in _OWN else aliases.get(key)
        if name is None:
            raise unknown_name(
                "parameter",
                key,
                {*aliases.values(), *_OWN},
                field=f"train.params.{key}",
                context="for LightGBM",
            )
        if name in given:
            raise ConfigError(
                f"{given[name]!r} and {key!r} are the same LightGBM parameter ({name!r}); give one",
                field=f"train.params.{key}",
            )
        given[name] = key
        out[name] = value
    return out


def _probe(p: dict[str, Any], task: Task, *, given: Mapping[str, Any]) -> None:
    """Configure a Booster on 16 rows and raise on the values LightGBM refuses."""
    import lightgbm
    import numpy as np

    own = ("num_iterations", "early_stopping_round", *_OWN)
    probe = {k: v for k, v in p.items() if k not in own} | {"num_threads": 1, "verbosity": -1}
    n = 16
    if task == "regression":
        y = 1.0 + np.arange(n) % 2  # positive: valid for poisson, gamma, tweedie
    else:
        y = (np.arange(n) % int(p.get("num_class", 2))).astype(np.float64)
    X = np.arange(n, dtype=np.float32).reshape(n, 1)
    try:
        lightgbm.Booster(probe, train_set=lightgbm.Dataset(X, label=y, params=probe))
    except lightgbm.basic.LightGBMError as exc:
        raise _value_error(str(exc), given) from None


def _value_error(message: str, given: Mapping[str, Any]) -> ConfigError:
    text = re.sub(r" at \S+, line \d+ \.?", "", message).strip()
    text = re.sub(r"\s*\n\s*", "; ", text)
    if "CUDA" in text or "GPU" in text:
        return ConfigError(f"LightGBM: {text}", field="train.device")
    match = re.search(r"Parameter (\w+)", text) or re.search(r"\((\w+)\)", text)
    name = match[1] if match else ("objective" if "objective" in text else "")
    if name:
        aliases = _aliases()
        name = next((k for k in given if aliases.get(k) == aliases.get(name, name)), name)
    field = f"train.params.{name}" if name else "train.params"
    return ConfigError(f"LightGBM refused the parameters: {text}", field=field)


def _device(device: str) -> str:
    # The LightGBM wheels on PyPI are built without CUDA; "auto" keeps to the CPU and
    # "cuda" is passed through, so a CUDA build works and another fails with a clear error.
    if device in ("auto", "cpu"):
        return "cpu"
    if device == "cuda":
        return "cuda"
    raise unknown_name("device", device, ("auto", "cpu", "cuda"), field="train.device")
