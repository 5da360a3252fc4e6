"""Small real data, a parent run to hang trials on, and a study spec for tests of tuning."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, make_friedman1
from sklearn.model_selection import train_test_split

from shipyard.pipeline.project import Project
from shipyard.tune import StudySpec


@dataclass(frozen=True)
class Arrays:
    task: str
    train: tuple[np.ndarray, np.ndarray]
    eval: tuple[np.ndarray, np.ndarray]
    feature_names: list[str]
    num_classes: int | None


def cancer() -> Arrays:
    """Breast cancer: 569 rows, 30 features, binary."""
    bunch = load_breast_cancer()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    x_tr, x_ev, y_tr, y_ev = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    names = [f"f{i}" for i in range(x.shape[1])]
    return Arrays("binary", (x_tr, y_tr), (x_ev, y_ev), names, 2)


def friedman() -> Arrays:
    """Friedman #1 regression, 2,000 rows: additive with low-order interactions and noise."""
    x, y = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=0)
    x_tr, x_ev, y_tr, y_ev = train_test_split(
        x.astype(np.float32), y, test_size=0.3, random_state=0
    )
    return Arrays("regression", (x_tr, y_tr), (x_ev, y_ev), [f"x{i}" for i in range(10)], None)


@pytest.fixture
def parent(project: Project) -> Iterator[tuple[str, str]]:
    """A pipeline run for trials to be child runs of: (id, name)."""
    run_id, name = project.metadata.create_run(pipeline="tuned", source="", seed=0, params={})
    yield run_id, name


def make_spec(
    project: Project,
    parent: tuple[str, str],
    data: Arrays,
    *,
    train: dict[str, Any],
    space: dict[str, Any],
    metric: str,
    direction: str,
    trials: int,
    **options: Any,
) -> StudySpec:
    from shipyard.config import TrainConfig
    from shipyard.tune import journal_path

    return StudySpec(
        journal=str(journal_path(project.store_dir, parent[0], "tune_model")),
        study="tune_model",
        store_url=project.store_url,
        parent_run=parent[0],
        parent_name=parent[1],
        train=TrainConfig.model_validate(train).model_dump(mode="json", by_alias=True),
        space=space,
        task=data.task,
        num_classes=data.num_classes,
        feature_names=data.feature_names,
        metric=metric,
        direction=direction,
        trials=trials,
        **options,
    )


def load_study(journal: str | Path, name: str = "tune_model") -> Any:
    """The study in a journal, read with plain Optuna."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.load_study(study_name=name, storage=storage)
