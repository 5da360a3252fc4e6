"""Small real datasets, split train/eval/test, and a project for tracked runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from sklearn import datasets
from sklearn.model_selection import train_test_split

from shipyard.pipeline.project import Project


@dataclass(frozen=True)
class Split:
    task: str
    train: tuple[np.ndarray, np.ndarray]
    eval: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    feature_names: list[str]
    num_classes: int | None


def _split(name: str, task: str) -> Split:
    bunch = getattr(datasets, f"load_{name}")()
    X, y = bunch.data.astype(np.float32), bunch.target
    strat = None if task == "regression" else y
    X_a, X_test, y_a, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=strat)
    strat = None if task == "regression" else y_a
    X_tr, X_ev, y_tr, y_ev = train_test_split(
        X_a, y_a, test_size=0.25, random_state=0, stratify=strat
    )
    names = [str(n).replace(" ", "_") for n in bunch.feature_names]
    classes = None if task == "regression" else int(np.max(y)) + 1
    return Split(task, (X_tr, y_tr), (X_ev, y_ev), (X_test, y_test), names, classes)


@pytest.fixture(scope="session")
def binary() -> Split:
    """Breast cancer: 569 rows, 30 features."""
    return _split("breast_cancer", "binary")


@pytest.fixture(scope="session")
def multiclass() -> Split:
    """Wine: 178 rows, 13 features, 3 classes."""
    return _split("wine", "multiclass")


@pytest.fixture(scope="session")
def regression() -> Split:
    """Diabetes: 442 rows, 10 features."""
    return _split("diabetes", "regression")


def history(project: Project, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(s, v) for s, v, _ in project.metadata.metric_history(run_id, key)]
