"""PyTorch specifics: the MLP and ResNet learn, parameters are checked, early stopping keeps
the best epoch, the saved model is JSON plus safetensors, and torch loads only when used."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn import datasets, metrics
from sklearn.model_selection import train_test_split

import shipyard
from shipyard.errors import ConfigError, DataValidationError, MaterializerError
from shipyard.pipeline.materializers import load_value, save_value
from shipyard.pipeline.project import Project
from shipyard.store.artifacts import LocalArtifactStore
from shipyard.train import TrainedModel, make_trainer

from ..conftest import cli
from .conftest import Split, history

# One thread: the tests' networks are tiny, and on a busy 2-core machine a second
# OpenMP thread waits more than it works.
FAST = {"num_threads": 1}


@pytest.fixture
def trainer() -> Any:
    return make_trainer("torch")


def separable(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features on wildly different scales, a few NaN, and a label set by two of them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    X *= np.array([1000.0, 0.001, 1.0, 50.0, 1e4, 1.0], dtype=np.float32)
    X[:, 2] += 300.0
    X[rng.random(size=X.shape) < 0.02] = np.nan
    return X, y


def test_mlp_learns_a_binary_problem_on_unscaled_features(trainer: Any) -> None:
    X, y = separable(1200)
    (X_tr, X_ev, X_te), (y_tr, y_ev, y_te) = np.split(X, [600, 900]), np.split(y, [600, 900])
    model = trainer.fit(
        (X_tr, y_tr), (X_ev, y_ev), {**FAST, "epochs": 20}, task="binary", seed=0, device="cpu"
    )
    pred = model.predict(X_te)
    assert pred.shape == (300,) and pred.dtype == np.float64
    assert np.isfinite(pred).all() and ((pred >= 0) & (pred <= 1)).all()
    assert metrics.roc_auc_score(y_te, pred) > 0.95  # a constant scores 0.5
    assert model.framework == "torch" and model.algorithm == "torch"
    assert model.framework_version == torch.__version__
    assert model.params["device"] == "cpu" and model.params["hidden_layers"] == [128, 64]
    assert "num_threads" not in model.params  # a machine's, not the model's
    assert set(model.metrics) == {"train_logloss", "eval_logloss", "eval_auc"}
    assert model.num_iterations == 20 and model.best_iteration is None
    assert model.importances() == {}


def test_resnet_learns_digits_as_8x8_images(trainer: Any) -> None:
    digits = datasets.load_digits()
    X, y = digits.data.astype(np.float32), digits.target
    X_a, X_te, y_a, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    X_tr, X_ev, y_tr, y_ev = train_test_split(X_a, y_a, test_size=0.2, random_state=0, stratify=y_a)
    params = {
        **FAST, "architecture": "resnet", "image_shape": [1, 8, 8], "channels": 16,
        "epochs": 15, "learning_rate": 3e-3, "batch_size": 32,
    }  # fmt: skip
    model = trainer.fit(
        (X_tr, y_tr), (X_ev, y_ev), params, task="multiclass", seed=0, early_stopping_rounds=3
    )
    proba = model.predict(X_te)
    assert proba.shape == (len(X_te), 10) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    assert metrics.accuracy_score(y_te, proba.argmax(axis=1)) >= 0.9
    assert model.num_classes == 10
    assert model.model.architecture == {
        "name": "resnet", "num_inputs": 64, "num_outputs": 10, "image_shape": [1, 8, 8],
        "channels": 16, "blocks": 2, "dropout": 0.1,
    }  # fmt: skip
    assert {"eval_mlogloss", "eval_merror", "train_mlogloss"} <= set(model.metrics)


def test_mlp_regression_beats_the_mean(trainer: Any, regression: Split) -> None:
    model = trainer.fit(
        regression.train, regression.eval, FAST, task="regression", seed=0,
        feature_names=regression.feature_names,
    )  # fmt: skip
    X, y = regression.test
    pred = model.predict(X)
    assert pred.shape == (len(X),) and pred.dtype == np.float64
    baseline = np.full(len(y), regression.train[1].mean())
    assert metrics.mean_squared_error(y, pred) < 0.8 * metrics.mean_squared_error(y, baseline)
    # the target is standardised inside the model: the outputs are on its own scale
    assert 50 < pred.mean() < 250
    assert set(model.metrics) == {"train_rmse", "eval_rmse"}


def test_save_and_load_are_json_and_safetensors(
    trainer: Any, binary: Split, tmp_path: Path
) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    params = {**FAST, "epochs": 5, "batch_norm": True, "hidden_layers": [16]}
    model = trainer.fit(
        binary.train, binary.eval, params, task="binary", feature_names=binary.feature_names
    )
    X = binary.test[0]
    info = save_value(model, store)
    assert info["type"] == "shipyard.trained_model" and not info["unsafe"]
    folder = store.path(info["digest"])
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"model/weights.safetensors", "model/architecture.json"} <= files
    assert not [f for f in files if f.endswith((".pt", ".pth", ".pkl", ".pickle", ".bin"))]
    saved = json.loads((folder / "model" / "architecture.json").read_text())
    assert saved == {"format": 1, **model.model.architecture}

    back = load_value(info["digest"], store)
    assert isinstance(back, TrainedModel) and back.metadata() == model.metadata()
    assert np.array_equal(back.predict(X), model.predict(X))
    assert not back.model.module.training
    # the input scaling and batch norm statistics travel with the weights
    for key, value in model.model.module.state_dict().items():
        assert torch.equal(back.model.module.state_dict()[key], value), key
    # the same weights are the same bytes
    assert save_value(back, store)["digest"] == info["digest"]


def test_loading_refuses_an_unknown_architecture_or_other_weights(
    trainer: Any, binary: Split, tmp_path: Path
) -> None:
    from shipyard.train.torch_model import TorchModelMaterializer

    model = trainer.fit(binary.train, None, {**FAST, "epochs": 1}, task="binary")
    m = TorchModelMaterializer()
    folder = tmp_path / "m"
    folder.mkdir()
    m.save(model.model, folder)
    assert isinstance(m.load(folder, {}, ""), type(model.model))
    config = json.loads((folder / "architecture.json").read_text())

    (folder / "architecture.json").write_text(json.dumps({**config, "name": "transformer"}))
    with pytest.raises(MaterializerError, match="architecture 'transformer'.*mlp, resnet"):
        m.load(folder, {}, "")
    (folder / "architecture.json").write_text(json.dumps({**config, "hidden_layers": [8]}))
    with pytest.raises(MaterializerError, match="weights.safetensors does not fit"):
        m.load(folder, {}, "")


def test_same_seed_same_weights_on_the_cpu(trainer: Any, multiclass: Split) -> None:
    def fit(seed: int) -> TrainedModel:
        params = {**FAST, "epochs": 5, "dropout": 0.3, "batch_size": 16}
        model: TrainedModel = trainer.fit(
            multiclass.train, multiclass.eval, params, task="multiclass", seed=seed, device="cpu"
        )
        return model

    a, b, c = fit(3), fit(3), fit(4)
    for key, value in a.model.module.state_dict().items():
        assert torch.equal(b.model.module.state_dict()[key], value), key
    X = multiclass.test[0]
    assert np.array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.predict(X), c.predict(X))
    # training leaves the caller's torch settings as they were
    assert not torch.are_deterministic_algorithms_enabled()


def test_unknown_parameter_names_the_field_and_suggests(trainer: Any) -> None:
    with pytest.raises(ConfigError) as info:
        trainer.validate({"hidden_layer": [32]}, "binary")
    err = info.value
    assert err.field == "train.params.hidden_layer"
    assert "did you mean 'hidden_layers'?" in str(err)
    valid = str(err).split("Valid parameters: ")[1].split(", ")
    assert {"hidden_layers", "image_shape", "learning_rate", "epochs", "optimizer"} <= set(valid)


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"dropout": 1.0}, "dropout", r"in \[0, 1\); got 1.0"),
        ({"epochs": 0}, "epochs", "positive integer; got 0"),
        ({"batch_size": 32.5}, "batch_size", "positive integer"),
        ({"learning_rate": 0}, "learning_rate", "> 0"),
        ({"hidden_layers": 64}, "hidden_layers", "list of positive integers"),
        ({"optimizer": "adamm"}, "optimizer", "did you mean 'adam'"),
        ({"architecture": "resnt"}, "architecture", "did you mean 'resnet'"),
        ({"architecture": "resnet"}, "image_shape", "needs image_shape"),
        ({"architecture": "resnet", "image_shape": [8, 8]}, "image_shape", "list of 3"),
        ({"image_shape": [1, 8, 8]}, "image_shape", "architecture 'resnet'; architecture is 'mlp'"),
        ({"momentum": 0.5}, "momentum", "optimizer 'sgd'; optimizer is 'adam'"),
        ({"batch_norm": "yes"}, "batch_norm", "true or false"),
    ],
)
def test_bad_values_fail_before_training(
    trainer: Any, params: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(ConfigError, match=text) as info:
        trainer.validate(params, "binary")
    assert info.value.field == f"train.params.{field}"


def test_defaults_per_architecture(trainer: Any) -> None:
    assert trainer.validate({}, "binary") == {
        "architecture": "mlp", "hidden_layers": [128, 64], "batch_norm": False, "dropout": 0.1,
        "learning_rate": 1e-3, "weight_decay": 0.0, "batch_size": 256, "epochs": 50,
        "optimizer": "adam",
    }  # fmt: skip
    p = trainer.validate({"architecture": "resnet", "image_shape": (3, 4, 4)}, "multiclass")
    assert p["image_shape"] == [3, 4, 4] and p["channels"] == 32 and p["blocks"] == 2
    assert "hidden_layers" not in p
    assert trainer.validate({"optimizer": "sgd"}, "regression")["momentum"] == 0.9
    # validated parameters validate to themselves (the train step validates, then fits)
    assert trainer.validate(p, "multiclass") == p


def test_image_shape_must_hold_the_features(trainer: Any, binary: Split) -> None:
    params = {**FAST, "architecture": "resnet", "image_shape": [1, 5, 5]}
    with pytest.raises(ConfigError, match="holds 25 values, but there are 30") as info:
        trainer.fit(binary.train, None, params, task="binary")
    assert info.value.field == "train.params.image_shape"


def test_early_stopping_keeps_the_best_epoch(trainer: Any, binary: Split, project: Project) -> None:
    # A learning rate this high overfits 255 rows within a few epochs.
    params = {**FAST, "epochs": 200, "learning_rate": 0.05, "batch_size": 32}
    with shipyard.start_run(name="t", project=project) as run:
        model = trainer.fit(
            binary.train, binary.eval, params, task="binary", early_stopping_rounds=5, seed=1
        )
    curve = history(project, run.id, "eval_logloss")
    assert [s for s, _ in curve] == list(range(len(curve)))
    assert len(curve) < 200  # it stopped
    best = model.best_iteration
    assert best is not None and len(curve) == best + 1 + 5
    values = [v for _, v in curve]
    assert best == int(np.argmin(values)) and model.num_iterations == best + 1
    assert model.metrics["eval_logloss"] == pytest.approx(min(values))
    # the weights kept are the best epoch's: they score the curve's minimum again
    X_ev, y_ev = binary.eval
    again = metrics.log_loss(y_ev, model.predict(X_ev))
    assert again == pytest.approx(min(values), rel=1e-5)
    assert len(history(project, run.id, "train_logloss")) == len(curve)
    assert history(project, run.id, "eval_auc")
    recorded = shipyard.get_run(run.id, project=project)
    assert recorded.params["early_stopping_rounds"] == 5
    assert recorded.params["optimizer"] == "adam" and recorded.params["device"] == "cpu"


def test_early_stopping_needs_an_eval_split(trainer: Any, binary: Split) -> None:
    with pytest.raises(ConfigError, match="needs an eval split") as info:
        trainer.fit(binary.train, None, FAST, task="binary", early_stopping_rounds=5)
    assert info.value.field == "train.early_stopping_rounds"


def test_devices(trainer: Any, binary: Split) -> None:
    with pytest.raises(ConfigError, match="did you mean 'cuda'") as info:
        trainer.fit(binary.train, None, FAST, task="binary", device="cdua")
    assert info.value.field == "train.device"
    if torch.cuda.is_available():
        pytest.skip("PyTorch sees a GPU here")
    for device in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match="needs a CUDA GPU") as info:
            trainer.fit(binary.train, None, FAST, task="binary", device=device)
        assert info.value.field == "train.device"
    model = trainer.fit(binary.train, None, {**FAST, "epochs": 1}, task="binary", device="auto")
    assert model.params["device"] == "cpu"


def test_wrong_feature_count_is_a_clear_error(trainer: Any, binary: Split) -> None:
    model = trainer.fit(binary.train, None, {**FAST, "epochs": 1}, task="binary")
    with pytest.raises(DataValidationError, match=r"shape \(rows, 30\)"):
        model.predict(binary.test[0][:, :5])
    # any memory layout predicts alike (to float32 rounding: a matrix product's blocking
    # depends on a row's place); no rows give no predictions
    X = binary.test[0]
    np.testing.assert_allclose(model.predict(X[::-1])[::-1], model.predict(X), rtol=1e-5)
    assert np.array_equal(model.predict(np.asfortranarray(X)), model.predict(X))
    assert model.predict(X[:0]).shape == (0,)


def test_torch_is_imported_only_to_train_or_load() -> None:
    # The local executor forks workers: a parent that started torch's thread pools would
    # hand them broken to its children, so importing and validating must not load torch.
    code = textwrap.dedent(
        """
        import sys
        import shipyard, shipyard.train.torch, shipyard.train.torch_model
        from shipyard.train import make_trainer
        from shipyard.pipeline.materializers import _by_name
        make_trainer("torch").validate({"architecture": "resnet", "image_shape": [1, 8, 8]}, "binary")
        _by_name("shipyard.torch_model")
        assert "torch" not in sys.modules, "torch was imported"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


PIPELINE = """
project:
  name: shapes
data:
  source:
    path: shapes.csv
  target: label
train:
  algorithm: torch
  params: {epochs: 5, num_threads: 1, learning_rate: 0.01}
evaluate:
  metrics: [roc_auc]
  gate:
    thresholds:
      roc_auc: {min: 0.8}
register:
  model_name: shapes
  alias: production
"""


def test_the_standard_pipeline_trains_evaluates_and_registers_a_torch_model(
    project_dir: Path,
) -> None:
    X, y = separable(400, seed=1)
    rows = ["a,b,c,d,e,f,label"]
    rows += [
        ",".join("" if np.isnan(v) else f"{v:.6g}" for v in x) + f",{int(t)}"
        for x, t in zip(X, y, strict=True)
    ]
    (project_dir / "shapes.csv").write_text("\n".join(rows) + "\n")
    (project_dir / "shipyard.yaml").write_text(PIPELINE)
    r = cli("run", "--json", cwd=project_dir, timeout=600)
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    assert [s["node"] for s in run["steps"]][-3:] == [
        "train_model",
        "evaluate_model",
        "register_model",
    ]
    assert run["metrics"]["eval_roc_auc"] >= 0.8
    assert {"train_logloss", "eval_logloss", "eval_auc"} <= set(run["metrics"])
    models = json.loads(cli("models", "list", "--json", cwd=project_dir).stdout)
    assert models[0]["name"] == "shapes" and models[0]["aliases"] == {"production": 1}
