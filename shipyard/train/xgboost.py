"""XGBoost through its native API: ``xgboost.train`` on a (Quantile)DMatrix.

Parameters are checked by XGBoost itself before training: a Booster is configured
on a two-row DMatrix (no boosting round runs) and XGBoost's own "parameters are
not used" report and value checks become ConfigErrors naming ``train.params.X``.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import autolog
from ._data import (
    Data,
    check_data,
    check_features,
    cpu_count,
    early_stopping,
    gpu_visible,
    library_seed,
    model_params,
)
from ._tracking import MetricSink, curve_point, log_importances, log_params, tracking_active
from .base import XY, Task, unknown_name
from .model import TrainedModel

if TYPE_CHECKING:
    import numpy as np
    import xgboost

__all__ = ["XGBoostTrainer"]

DEFAULT_ROUNDS = 100

# Defaults per task; the eval metrics only with the default objective (XGBoost picks
# the right one for any other). XGBoost stops early on the last metric listed.
_OBJECTIVE = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}  # fmt: skip
# The loss only: each metric is computed on the eval split every round, and AUC (a sort
# of the eval rows) costs as much again as the loss; the evaluate step reports the rest.
_METRICS = {"binary": ["logloss"], "multiclass": ["mlogloss"], "regression": ["rmse"]}
# Objectives whose predictions are what the task promises (probabilities or values).
_BINARY = ("binary:logistic", "reg:logistic")
_MULTICLASS = ("multi:softprob",)
_NOT_REGRESSION = ("binary:", "multi:", "rank:", "survival:", "reg:logistic")

# Parameters handled here rather than by the booster: name -> aliases.
_OWN = {
    "num_boost_round": ("n_estimators", "num_rounds"),
    "early_stopping_rounds": (),
    "watch_train": (),
}
# Names XGBoost reports in its config that no user sets.
_INTERNAL = {
    "name", "num_feature", "num_target", "num_trees", "updater_seq", "debug_synchronize",
    "max_cached_hist_node", "fail_on_invalid_gpu_id", "specified_updater", "base_score_estimated",
}  # fmt: skip
# XGBoost's aliases: canonical -> aliases, to point an error at the name the user wrote.
_ALIASES = {
    "learning_rate": ("eta",), "reg_lambda": ("lambda",), "reg_alpha": ("alpha",),
    "min_split_loss": ("gamma",), "nthread": ("n_jobs",), "seed": ("random_state",),
}  # fmt: skip


class XGBoostTrainer:
    """Gradient-boosted trees with XGBoost (``algorithm: xgboost``).

    Parameters are XGBoost's booster parameters, plus ``num_boost_round`` (alias
    ``n_estimators``, default 100) and ``watch_train`` (score the train split every
    round too, for its curve; default false when there is an eval split). Defaults:
    the task's objective (``binary:logistic``, ``multi:softprob``,
    ``reg:squarederror``), its loss as the eval metric (logloss, mlogloss, rmse; add
    others with ``eval_metric``), ``tree_method: hist``, ``nthread`` = the CPUs
    available, and the seed given to :meth:`fit`.
    """

    name = "xgboost"

    def validate(
        self, params: Mapping[str, Any], task: Task, *, num_classes: int | None = None
    ) -> dict[str, Any]:
        """Check ``params`` with XGBoost itself; return them with the task's defaults.

        Raises
        ------
        ConfigError
            For a parameter XGBoost would not use (with the closest valid name and the
            list for this booster and objective), a value it refuses, or an objective
            that does not fit ``task``.
        """
        p = _own_aliases(dict(params))
        objective = p.setdefault("objective", _OBJECTIVE[task])
        _check_objective(objective, task)
        if objective == _OBJECTIVE[task]:
            p.setdefault("eval_metric", list(_METRICS[task]))
        user_classes = p.get("num_class")
        if task == "multiclass":
            if num_classes is not None and user_classes not in (None, num_classes):
                raise ConfigError(
                    f"num_class is {user_classes} but the labels have {num_classes} classes",
                    field="train.params.num_class",
                )
            p["num_class"] = num_classes or user_classes or 3  # 3: any valid count, to probe
        if p.get("booster") != "gblinear":
            p.setdefault("tree_method", "hist")
        p.setdefault("num_boost_round", DEFAULT_ROUNDS)
        _check_watch_train(p)
        booster_params = {k: v for k, v in p.items() if k not in _OWN}
        _probe(booster_params, given=params)
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
        """Train with ``xgboost.train``, stopping early on the eval split.

        Each round's train and eval metrics are logged as ``train_<metric>`` and
        ``eval_<metric>`` (step = round) when a step or tracked run is active.
        """
        import xgboost

        if task == "multiclass" and num_classes is None:
            num_classes = params.get("num_class")
        data = check_data(
            train, eval, task=task, num_classes=num_classes, feature_names=feature_names
        )
        p = self.validate(params, task, num_classes=data.num_classes)
        rounds = int(p.pop("num_boost_round"))
        stop = early_stopping(
            p.pop("early_stopping_rounds", None),
            early_stopping_rounds,
            eval,
            "early_stopping_rounds",
        )
        if not any(k in p for k in ("seed", "random_state")):
            p["seed"] = library_seed(seed)
        if not any(k in p for k in ("nthread", "n_jobs")):
            p["nthread"] = cpu_count()
        if "device" not in p:
            p["device"] = _device(device)
        _constraints_by_position(p, data.feature_names)
        dtrain, deval = _matrices(p, data)
        # The train split is scored every round only when asked (or when there is no eval
        # split): on a large train split that doubles the time of each round.
        watch = bool(p.pop("watch_train", False)) or deval is None
        evals = ([(dtrain, "train")] if watch else []) + (
            [] if deval is None else [(deval, "eval")]
        )
        history: dict[str, list[float]] = {}
        sink = MetricSink() if tracking_active() else None
        log_params({**p, "num_boost_round": rounds, "early_stopping_rounds": stop})
        try:
            with autolog.suspended():
                booster = xgboost.train(
                    p,
                    dtrain,
                    rounds,
                    evals=evals,
                    early_stopping_rounds=stop,
                    verbose_eval=False,
                    callbacks=[curve_callback(history, sink)],
                )
        finally:
            if sink is not None:
                sink.flush()
        best = booster.best_iteration if stop else None
        if best is not None and best + 1 < booster.num_boosted_rounds():
            # Keep only the rounds up to the best: the saved file then predicts the same
            # everywhere, without the best_iteration attribute that slicing drops.
            booster = booster[: best + 1]
        # Predictions come from NumPy on the CPU, and a CUDA booster would warn and
        # copy on every call; the device is not saved in the model file anyway.
        booster.set_param({"device": "cpu"})
        kept = booster.num_boosted_rounds()
        model = TrainedModel(
            model=booster,
            algorithm=self.name,
            framework="xgboost",
            framework_version=xgboost.__version__,
            task=task,
            num_classes=data.num_classes,
            feature_names=data.feature_names,
            params=model_params({**p, "num_boost_round": rounds, "early_stopping_rounds": stop}),
            best_iteration=best,
            num_iterations=kept,
            metrics={k: v[kept - 1] for k, v in history.items() if len(v) >= kept},
            seed=int(p.get("seed", p.get("random_state", 0))),
        )
        log_importances(self.importances(model))
        return model

    def predict(self, model: TrainedModel, X: np.ndarray) -> np.ndarray:
        """P(class 1) ``(n,)``, class probabilities ``(n, k)`` or values ``(n,)``."""
        import numpy as np
        import xgboost

        booster: xgboost.Booster = model.model
        X = check_features(model, X)
        try:
            out = booster.inplace_predict(X)
        except xgboost.core.XGBoostError:
            # gblinear has no in-place prediction
            out = booster.predict(xgboost.DMatrix(X))
        return np.asarray(out)

    def importances(self, model: TrainedModel) -> dict[str, float]:
        """Total gain of each feature's splits (0 for unused features)."""
        booster = model.model
        if booster_kind(booster) == "gblinear":
            return {}  # a linear booster has weights, not gains
        return booster_importances(booster, model.feature_names)


def booster_importances(booster: xgboost.Booster, feature_names: Sequence[str]) -> dict[str, float]:
    """Total gain per feature of a tree booster, keyed by ``feature_names``."""
    scores = booster.get_score(importance_type="total_gain")
    out = dict.fromkeys(feature_names, 0.0)
    for key, value in scores.items():
        name = key
        if key not in out and re.fullmatch(r"f\d+", key) and int(key[1:]) < len(feature_names):
            name = feature_names[int(key[1:])]  # a booster trained without names
        out[name] = float(value if not isinstance(value, list) else sum(value))
    return out


def curve_callback(history: dict[str, list[float]], sink: MetricSink | None) -> Any:
    """An XGBoost callback recording each round's metrics as ``<data>_<metric>``."""
    import xgboost

    class _Curves(xgboost.callback.TrainingCallback):
        def after_iteration(
            self, model: Any, epoch: int, evals_log: dict[str, dict[str, Any]]
        ) -> bool:
            for data, metrics in evals_log.items():
                for metric, values in metrics.items():
                    last = values[-1]
                    value = float(last[0] if isinstance(last, tuple) else last)
                    key = f"{data}_{metric}"
                    history.setdefault(key, []).append(value)
                    curve_point(sink, key, value, epoch)
            return False

    return _Curves()


# -- parameters ------------------------------------------------------------------------


def _own_aliases(p: dict[str, Any]) -> dict[str, Any]:
    for name, aliases in _OWN.items():
        for alias in aliases:
            if alias in p:
                if name in p:
                    raise ConfigError(
                        f"{alias!r} and {name!r} are the same parameter; give one",
                        field=f"train.params.{alias}",
                    )
                p[name] = p.pop(alias)
    return p


def _check_objective(objective: Any, task: Task) -> None:
    if not isinstance(objective, str):
        raise ConfigError(
            f"objective must be a name such as {_OBJECTIVE[task]!r}; got {objective!r}",
            field="train.params.objective",
        )
    if task == "binary":
        ok, allowed = objective in _BINARY, ", ".join(_BINARY)
    elif task == "multiclass":
        ok, allowed = objective in _MULTICLASS, ", ".join(_MULTICLASS)
    else:
        ok = not objective.startswith(_NOT_REGRESSION)
        allowed = "reg:* (except reg:logistic), count:poisson"
    if not ok:
        hint = " (multi:softmax predicts labels; Shipyard needs probabilities)"
        raise ConfigError(
            f"objective {objective!r} does not fit task {task!r}; use one of: {allowed}"
            + (hint if objective == "multi:softmax" else ""),
            field="train.params.objective",
        )


def _constraints_by_position(p: dict[str, Any], feature_names: Sequence[str]) -> None:
    """``monotone_constraints: {dep_delay: 1}`` by feature name -> XGBoost's tuple by position."""
    value = p.get("monotone_constraints")
    if not isinstance(value, Mapping):
        return
    unknown = [k for k in value if k not in feature_names]
    if unknown:
        raise unknown_name(
            "feature",
            unknown[0],
            set(feature_names),
            field=f"train.params.monotone_constraints.{unknown[0]}",
            context="(the model's features, after the transform)",
        )
    p["monotone_constraints"] = (
        "(" + ",".join(str(int(value.get(n, 0))) for n in feature_names) + ")"
    )


def _probe(params: dict[str, Any], *, given: Mapping[str, Any]) -> None:
    """Configure a Booster with ``params`` on a tiny DMatrix and raise on what XGBoost refuses."""
    import numpy as np
    import xgboost

    dmatrix = xgboost.DMatrix(np.zeros((2, 1), dtype=np.float32))
    probe = {**params, "nthread": 1, "validate_parameters": True, "device": "cpu"}
    if isinstance(probe.get("monotone_constraints"), Mapping):
        del probe["monotone_constraints"]  # by feature name: checked against the features at fit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            config = json.loads(xgboost.Booster(probe, [dmatrix]).save_config())
        except xgboost.core.XGBoostError as exc:
            raise _value_error(str(exc), given) from None
    unused: list[str] = []
    for w in caught:
        match = re.search(r"Parameters: \{(.*?)\} are not used", str(w.message), re.S)
        if match:
            unused += re.findall(r'"([^"]+)"', match[1])
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if unused:
        learner = config["learner"]
        booster = learner["learner_train_param"]["booster"]
        objective = learner["learner_train_param"]["objective"]
        valid = _config_names(config) | _GENERIC
        raise unknown_name(
            "parameter",
            unused[0],
            valid,
            field=f"train.params.{unused[0]}",
            context=f"for XGBoost (booster {booster!r}, objective {objective!r})",
        )


def _value_error(message: str, given: Mapping[str, Any]) -> ConfigError:
    text = message.split("\nStack trace:")[0].strip()
    text = re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", text)
    text = re.sub(r"\n+", "; ", text)
    name = "params"
    if match := re.search(r"Parameter format for (\w+)", text) or re.search(
        r"Parameter (\w+)", text
    ):
        name = match[1]
        if name not in given:
            name = next((a for a in _ALIASES.get(name, ()) if a in given), name)
    elif "objective" in text:
        name = "objective"
    elif "metric" in text:
        name = "eval_metric"
    field = "train.params" if name == "params" else f"train.params.{name}"
    return ConfigError(f"XGBoost refused the parameters: {text}", field=field)


def _config_names(config: Any) -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str) and k not in _INTERNAL:
                    names.add(k)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config)
    return names


# Accepted by every configuration but absent from the config XGBoost reports back.
_GENERIC = frozenset(
    {"eval_metric", "verbosity", "num_class", "seed", "nthread", "validate_parameters",
     "disable_default_eval_metric", "base_score", *_OWN, *(a for al in _OWN.values() for a in al)}
)  # fmt: skip


def _device(device: str) -> str:
    import xgboost

    cuda_build = bool(xgboost.build_info().get("USE_CUDA"))
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        if not cuda_build:
            raise ConfigError(
                "this XGBoost build has no CUDA support (the xgboost-cpu package);"
                " install the `xgboost` package for GPUs, or use device: cpu",
                field="train.device",
            )
        return "cuda"
    if device == "auto":
        return "cuda" if cuda_build and gpu_visible() else "cpu"
    raise unknown_name("device", device, ("auto", "cpu", "cuda"), field="train.device")


def booster_kind(booster: xgboost.Booster) -> str:
    """``gbtree``, ``dart`` or ``gblinear``."""
    config = json.loads(booster.save_config())
    return str(config["learner"]["learner_train_param"]["booster"])


def _matrices(p: Mapping[str, Any], data: Data) -> tuple[Any, Any]:
    """The train and eval matrices.

    A plain DMatrix, not a QuantileDMatrix: the features are already a float32 array in
    memory, and on 1M x 28 rows QuantileDMatrix's sketch took 2.5 s where DMatrix plus
    the histogram index built in the first round took 1.5 s (benchmarks/train_overhead.py).
    """
    import xgboost

    nthread = int(p.get("nthread", p.get("n_jobs", 0)) or 0)
    # XGBoost refuses feature names holding [, ] or < (one-hot names such as "carrier=<oov>"
    # or a category "<5 years"): it trains on positions, and Shipyard keeps the names.
    dtrain = xgboost.DMatrix(data.X, label=data.y, nthread=nthread)
    if data.X_eval is None:
        return dtrain, None
    return dtrain, xgboost.DMatrix(data.X_eval, label=data.y_eval, nthread=nthread)


def _check_watch_train(p: dict[str, Any]) -> None:
    """``watch_train`` is Shipyard's own switch: a bool."""
    if "watch_train" in p and not isinstance(p["watch_train"], bool):
        raise ConfigError(
            f"watch_train must be true or false; got {p['watch_train']!r}",
            field="train.params.watch_train",
        )
