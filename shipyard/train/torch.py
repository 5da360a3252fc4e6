"""PyTorch networks of Shipyard's built-in architectures: an MLP and a small ResNet.

The networks are Shipyard's own (:mod:`shipyard.train._torch_nets`), so a trained
model is an architecture in JSON plus safetensors weights, never code or a pickle
(:mod:`shipyard.train.torch_model`). Training runs over the NumPy arrays in shuffled
mini-batches, one epoch at a time, and stops early on the eval split's loss.

torch is imported inside the methods only: the local executor forks workers, and
torch's thread pools do not survive a fork of a process that has started them.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ._data import (
    Data,
    check_data,
    check_features,
    cpu_count,
    early_stopping,
    library_seed,
    model_params,
)
from ._tracking import MetricSink, curve_point, eval_metrics, log_params, tracking_active
from .base import XY, Task, unknown_name
from .model import TrainedModel

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ._torch_nets import Net

__all__ = ["ARCHITECTURE_PARAMS", "DEFAULTS", "TorchTrainer"]

# The parameters each architecture takes, besides those of training (_TRAINING).
ARCHITECTURE_PARAMS: dict[str, tuple[str, ...]] = {
    "mlp": ("hidden_layers", "dropout", "batch_norm"),
    "resnet": ("image_shape", "channels", "blocks", "dropout"),
}
_TRAINING = (
    "architecture", "learning_rate", "weight_decay", "batch_size", "epochs", "optimizer",
    "momentum", "num_threads", "early_stopping_rounds",
)  # fmt: skip
DEFAULTS: dict[str, Any] = {
    "architecture": "mlp",
    "hidden_layers": [128, 64],
    "dropout": 0.1,
    "batch_norm": False,
    "channels": 32,
    "blocks": 2,
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 256,
    "epochs": 50,
    "optimizer": "adam",
    "momentum": 0.9,
}
OPTIMIZERS = ("adam", "adamw", "sgd")
# The eval metric early stopping watches (the loss, under XGBoost's names).
_LOSS = {"binary": "logloss", "multiclass": "mlogloss", "regression": "rmse"}
# On a GPU, train and eval arrays up to this size are copied to it once, not per batch.
_RESIDENT_BYTES = 256 * 2**20


class TorchTrainer:
    """A PyTorch network trained with mini-batch gradient descent (``algorithm: torch``).

    Parameters (all optional): ``architecture`` (``mlp`` or ``resnet``); for ``mlp``
    ``hidden_layers`` ([128, 64]), ``dropout`` (0.1), ``batch_norm`` (false); for
    ``resnet`` ``image_shape`` ([channels, height, width], required), ``channels`` (32),
    ``blocks`` (2), ``dropout``; and ``learning_rate`` (1e-3), ``weight_decay`` (0),
    ``batch_size`` (256), ``epochs`` (50, the most trained), ``optimizer`` (``adam``,
    ``adamw`` or ``sgd``), ``momentum`` (0.9, sgd only), ``num_threads`` (the CPUs
    available). Early stopping counts epochs without a lower eval loss and keeps the
    best epoch's weights.

    Training on the CPU with the same seed gives the same weights (deterministic
    algorithms, the same thread count); on a GPU results may differ in the last bits.
    """

    name = "torch"

    def validate(
        self, params: Mapping[str, Any], task: Task, *, num_classes: int | None = None
    ) -> dict[str, Any]:
        """Check names and values; return the parameters with the defaults filled in.

        Raises
        ------
        ConfigError
            For an unknown name (with the closest valid name and the list), a parameter
            of another architecture or optimizer, or a value out of range.
        """
        valid = {*_TRAINING, *(n for names in ARCHITECTURE_PARAMS.values() for n in names)}
        for key in params:
            if key not in valid:
                raise unknown_name(
                    "parameter", key, valid, field=f"train.params.{key}", context="for PyTorch"
                )
        arch = params.get("architecture", DEFAULTS["architecture"])
        if arch not in ARCHITECTURE_PARAMS:
            raise unknown_name(
                "architecture", str(arch), ARCHITECTURE_PARAMS, field="train.params.architecture"
            )
        for key in params:
            owners = [a for a, names in ARCHITECTURE_PARAMS.items() if key in names]
            if owners and arch not in owners:
                raise ConfigError(
                    f"{key} is a parameter of architecture {owners[0]!r}; architecture is {arch!r}",
                    field=f"train.params.{key}",
                )
        p = {**DEFAULTS, **params}
        out: dict[str, Any] = {"architecture": arch}
        if arch == "mlp":
            out["hidden_layers"] = _sizes("hidden_layers", p["hidden_layers"])
            out["batch_norm"] = _flag("batch_norm", p["batch_norm"])
        else:
            if "image_shape" not in params:
                raise ConfigError(
                    "architecture 'resnet' needs image_shape: [channels, height, width], e.g."
                    " [1, 8, 8] for 8x8 grey images (the feature columns, in order)",
                    field="train.params.image_shape",
                )
            out["image_shape"] = _sizes("image_shape", p["image_shape"], length=3)
            out["channels"] = _count("channels", p["channels"])
            out["blocks"] = _count("blocks", p["blocks"])
        out["dropout"] = _real("dropout", p["dropout"], "a number in [0, 1)", 0.0, 1.0, top=False)
        out["learning_rate"] = _real("learning_rate", p["learning_rate"], "a number > 0", 0.0)
        if out["learning_rate"] == 0:
            raise _bad("learning_rate", p["learning_rate"], "a number > 0")
        out["weight_decay"] = _real("weight_decay", p["weight_decay"], "a number >= 0", 0.0)
        out["batch_size"] = _count("batch_size", p["batch_size"])
        out["epochs"] = _count("epochs", p["epochs"])
        optimizer = p["optimizer"]
        if optimizer not in OPTIMIZERS:
            raise unknown_name(
                "optimizer", str(optimizer), OPTIMIZERS, field="train.params.optimizer"
            )
        out["optimizer"] = optimizer
        if optimizer == "sgd":
            out["momentum"] = _real("momentum", p["momentum"], "a number in [0, 1)", 0.0, 1.0, top=False)  # fmt: skip
        elif "momentum" in params:
            raise ConfigError(
                f"momentum is a parameter of optimizer 'sgd'; optimizer is {optimizer!r}",
                field="train.params.momentum",
            )
        for key in ("num_threads", "early_stopping_rounds"):
            if params.get(key) is not None:
                out[key] = _count(key, params[key])
        return out

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
        """Train epoch by epoch on ``train``, stopping early on ``eval``'s loss.

        Each epoch logs ``train_<loss>`` (the mean mini-batch loss, in training mode)
        and the task's eval metrics (``eval_logloss`` and ``eval_auc``; ``eval_mlogloss``
        and ``eval_merror``; ``eval_rmse``), step = epoch, when a step or run is active.

        Raises
        ------
        ConfigError
            For bad parameters, an ``image_shape`` that does not hold the features, or a
            CUDA device when PyTorch sees no GPU (field ``train.device``).
        """
        import torch

        from ._torch_nets import build
        from .torch_model import TorchModel

        data = check_data(
            train, eval, task=task, num_classes=num_classes, feature_names=feature_names
        )
        p = self.validate(params, task, num_classes=data.num_classes)
        stop = early_stopping(
            p.pop("early_stopping_rounds", None),
            early_stopping_rounds,
            eval,
            "early_stopping_rounds",
        )
        threads = p.pop("num_threads", None) or cpu_count()
        dev = _device(device)
        num_outputs = data.num_classes if task == "multiclass" else 1
        architecture = _architecture(p, data.X.shape[1], int(num_outputs or 1))
        torch_seed = library_seed(seed)
        recorded = {**p, "early_stopping_rounds": stop, "num_threads": threads, "device": str(dev)}
        log_params(recorded)
        history: dict[str, list[float]] = {}
        sink = MetricSink() if tracking_active() else None
        try:
            with _settings(dev, threads, torch_seed):
                net = build(architecture)
                _fit_scaling(net, data, task)
                net.to(dev)
                best, epochs = _train(net, data, p, task, dev, torch_seed, stop, history, sink)
                net.to("cpu").eval()
        finally:
            if sink is not None:
                sink.flush()
        kept = epochs if best is None else best + 1
        return TrainedModel(
            model=TorchModel(architecture, net),
            algorithm=self.name,
            framework="torch",
            framework_version=torch.__version__,
            task=task,
            num_classes=data.num_classes,
            feature_names=data.feature_names,
            params=model_params(recorded),
            best_iteration=best,
            num_iterations=kept,
            metrics={k: v[kept - 1] for k, v in history.items() if len(v) >= kept},
            seed=torch_seed,
        )

    def predict(self, model: TrainedModel, X: np.ndarray) -> np.ndarray:
        """P(class 1) ``(n,)``, class probabilities ``(n, k)`` or values ``(n,)``, float64."""
        return _predictions(model.task, model.model.outputs(check_features(model, X)))

    def importances(self, model: TrainedModel) -> dict[str, float]:
        """Empty: a network has no built-in importance (evaluation can permute features)."""
        return {}


# -- training ----------------------------------------------------------------------------


@contextlib.contextmanager
def _settings(device: torch.device, threads: int, seed: int) -> Iterator[None]:
    """Threads, determinism and a seeded RNG for the training, restored afterwards."""
    import torch

    threads_before = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    # CPU kernels are deterministic for a given thread count once this is on. On CUDA it
    # would also need CUBLAS_WORKSPACE_CONFIG set before CUDA starts, which is not ours to set.
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    gpus = [device.index or 0] if device.type == "cuda" else []
    try:
        # A fork of the global RNG: training draws from torch's default generator (weight
        # init, dropout) without moving the caller's.
        with torch.random.fork_rng(devices=gpus):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _fit_scaling(net: Net, data: Data, task: Task) -> None:
    """The train split's feature means and deviations (and the target's, for regression)."""
    import warnings

    import numpy as np
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: its mean is NaN
        mean = np.nanmean(data.X, axis=0, dtype=np.float64)
        std = np.nanstd(data.X, axis=0, dtype=np.float64)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    with torch.no_grad():
        net.x_mean.copy_(torch.from_numpy(mean.astype(np.float32)))
        net.x_std.copy_(torch.from_numpy(std.astype(np.float32)))
        if task == "regression":
            y = np.asarray(data.y, dtype=np.float64)
            y_std = float(np.std(y))
            net.y_mean.fill_(float(np.mean(y)))
            net.y_std.fill_(y_std if math.isfinite(y_std) and y_std > 0 else 1.0)


def _train(
    net: Net,
    data: Data,
    p: Mapping[str, Any],
    task: Task,
    device: torch.device,
    seed: int,
    stop: int | None,
    history: dict[str, list[float]],
    sink: MetricSink | None,
) -> tuple[int | None, int]:
    """Train ``net`` in place; return the best epoch (when stopping early) and epochs run."""
    import torch

    from .torch_model import outputs

    def record(key: str, value: float, epoch: int) -> None:
        history.setdefault(key, []).append(value)
        curve_point(sink, key, value, epoch)

    X = torch.from_numpy(data.X)  # no copy: batches are gathered from it
    y = _targets(data.y, task, net)
    if device.type == "cuda" and data.X.nbytes <= _RESIDENT_BYTES:
        X, y = X.to(device), y.to(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = _optimizer(p, net)
    loss_fn = _loss_fn(task)
    loss_name = _LOSS[task]
    y_std = float(net.y_std[0])
    best: int | None = None
    best_value = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    epoch = -1
    for epoch in range(int(p["epochs"])):
        net.train()
        total = torch.zeros((), device=device)
        for batch in _batches(torch.randperm(len(X), generator=generator), int(p["batch_size"])):
            rows = batch.to(X.device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(X[rows].to(device)), y[rows].to(device))
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(rows)
        train_loss = float(total) / len(X)  # one device sync per epoch
        if task == "regression":  # the loss is the MSE of the standardised target
            train_loss = math.sqrt(train_loss) * y_std
        record(f"train_{loss_name}", train_loss, epoch)
        if data.X_eval is None or data.y_eval is None:
            continue
        pred = _predictions(task, outputs(net, data.X_eval))
        for key, value in eval_metrics(task, data.y_eval, pred).items():
            record(f"eval_{key}", value, epoch)
        value = history[f"eval_{loss_name}"][-1]
        if math.isfinite(value) and value < best_value:
            best, best_value = epoch, value
            if stop is not None:
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif stop is not None and best is not None and epoch - best >= stop:
            break
    if stop is None or best_state is None:
        return None, epoch + 1
    net.load_state_dict(best_state)
    return best, epoch + 1


def _batches(order: torch.Tensor, size: int) -> Iterator[torch.Tensor]:
    bounds = [*range(0, len(order), size), len(order)]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        # A last batch of one row: batch norm cannot train on it, so it joins the one before.
        del bounds[-2]
    for start, end in zip(bounds, bounds[1:], strict=False):
        yield order[start:end]


def _targets(y: np.ndarray, task: Task, net: Net) -> torch.Tensor:
    import numpy as np
    import torch

    if task == "multiclass":
        return torch.from_numpy(np.asarray(y, dtype=np.int64))
    values = np.asarray(y, dtype=np.float64)
    if task == "regression":
        values = (values - float(net.y_mean[0])) / float(net.y_std[0])
    return torch.from_numpy(values.astype(np.float32).reshape(-1, 1))


def _loss_fn(task: Task) -> torch.nn.Module:
    from torch import nn

    if task == "binary":
        return nn.BCEWithLogitsLoss()
    if task == "multiclass":
        return nn.CrossEntropyLoss()
    return nn.MSELoss()


def _optimizer(p: Mapping[str, Any], net: Net) -> torch.optim.Optimizer:
    import torch

    lr, decay = float(p["learning_rate"]), float(p["weight_decay"])
    if p["optimizer"] == "adam":
        return torch.optim.Adam(net.parameters(), lr=lr, weight_decay=decay)
    if p["optimizer"] == "adamw":
        return torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=decay)
    return torch.optim.SGD(
        net.parameters(), lr=lr, momentum=float(p["momentum"]), weight_decay=decay
    )


def _predictions(task: Task, out: np.ndarray) -> np.ndarray:
    """Raw outputs ``(n, k)`` as what the task promises: probabilities or values."""
    import numpy as np
    import torch

    if task == "regression":
        return np.ascontiguousarray(out[:, 0])
    logits = torch.from_numpy(out)
    if task == "binary":
        return torch.sigmoid(logits[:, 0]).numpy()
    return torch.softmax(logits, dim=1).numpy()


# -- parameters and device ---------------------------------------------------------------


def _architecture(p: Mapping[str, Any], num_inputs: int, num_outputs: int) -> dict[str, Any]:
    name = p["architecture"]
    arch = {"name": name, "num_inputs": num_inputs, "num_outputs": num_outputs}
    arch.update({key: p[key] for key in ARCHITECTURE_PARAMS[name]})
    if name == "resnet" and math.prod(p["image_shape"]) != num_inputs:
        raise ConfigError(
            f"image_shape {p['image_shape']} holds {math.prod(p['image_shape'])} values, but"
            f" there are {num_inputs} feature columns; their product must match",
            field="train.params.image_shape",
        )
    return arch


def _device(device: str) -> torch.device:
    """``auto`` is CUDA when PyTorch sees a GPU; ``cuda`` and ``cuda:N`` need one."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    if device == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if match is None:
        raise unknown_name(
            "device", device, ("auto", "cpu", "cuda", "cuda:N"), field="train.device"
        )
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else "no GPU is visible"
        raise ConfigError(
            f"device {device!r} needs a CUDA GPU, and PyTorch {torch.__version__} has none"
            f" ({build}); use device: cpu or auto",
            field="train.device",
        )
    index = int(match[1]) if match[1] is not None else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"device {device!r}: PyTorch sees {torch.cuda.device_count()} GPU(s)",
            field="train.device",
        )
    return torch.device("cuda", index)


def _bad(name: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{name} must be {expected}; got {value!r}", field=f"train.params.{name}")


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise _bad(name, value, "a positive integer")
    return int(value)


def _real(
    name: str, value: Any, expected: str, low: float, high: float = math.inf, *, top: bool = True
) -> float:
    """A float in [low, high] (or [low, high) when not ``top``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _bad(name, value, expected)
    v = float(value)
    if not (low <= v <= high) or (not top and v == high) or math.isnan(v):
        raise _bad(name, value, expected)
    return v


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(name, value, "true or false")
    return value


def _sizes(name: str, value: Any, *, length: int | None = None) -> list[int]:
    expected = f"a list of {length} positive integers" if length else "a list of positive integers"
    if not isinstance(value, list | tuple) or (length is not None and len(value) != length):
        raise _bad(name, value, expected)
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in value):
        raise _bad(name, value, expected)
    return [int(v) for v in value]
