"""The trainer table, the interface, input checks, and imports without the frameworks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from shipyard.config import TrainConfig
from shipyard.errors import ConfigError, DataValidationError
from shipyard.train import TRAINERS, Trainer, from_config, make_trainer
from shipyard.train._data import check_data


def test_unknown_algorithm_suggests_and_lists() -> None:
    with pytest.raises(ConfigError) as info:
        make_trainer("xgbost")
    err = info.value
    assert err.field == "train.algorithm"
    assert "did you mean 'xgboost'?" in str(err)
    assert "function, lightgbm, sklearn, torch, xgboost" in str(err)


def test_a_trainer_whose_package_is_missing_says_what_to_install() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # makes `import torch` raise ImportError
        from shipyard.errors import ConfigError
        from shipyard.train import make_trainer
        try:
            make_trainer("torch")
        except ConfigError as exc:
            assert exc.field == "train.algorithm" and "pip install torch==2.13.0" in str(exc), exc
            print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_options_a_trainer_does_not_take() -> None:
    with pytest.raises(ConfigError, match="cannot make the 'xgboost' trainer .*estimator"):
        make_trainer("xgboost", estimator="sklearn.linear_model:Ridge")
    with pytest.raises(ConfigError, match="options given \\(none\\).*'function'"):
        make_trainer("function")


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_every_trainer_implements_the_protocol(name: str) -> None:
    options = {"function": "m.py:f"} if name == "function" else {}
    trainer = make_trainer(name, **options)
    assert isinstance(trainer, Trainer) and trainer.name == name


def test_from_config() -> None:
    trainer = from_config(TrainConfig(algorithm="sklearn", estimator="sklearn.linear_model:Ridge"))
    assert trainer.name == "sklearn" and trainer.estimator == "sklearn.linear_model:Ridge"  # type: ignore[attr-defined]
    assert from_config(TrainConfig(algorithm="lightgbm")).name == "lightgbm"
    trainer = from_config(TrainConfig(algorithm="function", function="pkg.mod:train"))
    assert trainer.function == "pkg.mod:train"  # type: ignore[attr-defined]


def test_check_data_refuses_bad_shapes_and_labels() -> None:
    X = np.zeros((4, 2), dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    with pytest.raises(DataValidationError, match="must be 2-D"):
        check_data((X[:, 0], y), None, task="binary", num_classes=None, feature_names=None)
    with pytest.raises(DataValidationError, match="one label per row"):
        check_data((X, y[:3]), None, task="binary", num_classes=None, feature_names=None)
    with pytest.raises(DataValidationError, match="unique; repeated: \\['a'\\]"):
        check_data((X, y), None, task="binary", num_classes=None, feature_names=["a", "a"])
    with pytest.raises(DataValidationError, match="eval split has 3 features"):
        check_data(
            (X, y), (np.zeros((2, 3)), y[:2]), task="binary", num_classes=None, feature_names=None
        )
    with pytest.raises(DataValidationError, match="labels 0..2"):
        check_data(
            (X, np.array([0, 1, 2, 5])), None, task="multiclass", num_classes=3, feature_names=None
        )
    with pytest.raises(DataValidationError, match="at least 2 classes"):
        check_data((X, np.zeros(4)), None, task="multiclass", num_classes=None, feature_names=None)
    with pytest.raises(ConfigError, match="unknown task 'binay'; did you mean 'binary'"):
        check_data((X, y), None, task="binay", num_classes=None, feature_names=None)  # type: ignore[arg-type]
    data = check_data(
        (X.astype(np.float64), y), None, task="multiclass", num_classes=None, feature_names=None
    )
    assert (
        data.X.dtype == np.float32 and data.num_classes == 2 and data.feature_names == ["f0", "f1"]
    )


def test_importable_without_xgboost_or_lightgbm() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["xgboost"] = None  # makes `import xgboost` raise ImportError
        sys.modules["lightgbm"] = None
        import shipyard.train
        assert "sklearn" not in sys.modules, "shipyard.train imported scikit-learn"
        import shipyard.train.xgboost, shipyard.train.lightgbm, shipyard.train.sklearn
        import shipyard.train.function
        from shipyard.train import autolog, make_trainer
        autolog.enable(); assert autolog.is_enabled(); autolog.disable()
        from shipyard.errors import ConfigError
        try:
            make_trainer("lightgbm")
        except ConfigError as exc:
            assert exc.field == "train.algorithm" and "pip install lightgbm" in str(exc), exc
            print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
