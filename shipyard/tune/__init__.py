"""Hyperparameter tuning with Optuna: search spaces, parallel trials, resumable studies.

A ``tune:`` section makes the standard pipeline search ``train.params`` before
training: :func:`~shipyard.tune.steps.tune_model` runs a study whose trials are
worker processes sharing an Optuna journal, each trial recorded as a child run
of the pipeline run, and hands the best params to ``train_model``. Optuna is
imported only when a study runs.

Examples
--------
>>> from shipyard.tune import build_space                 # doctest: +SKIP
>>> build_space({"max_depth": {"type": "int", "low": 2, "high": 8}})
"""

from __future__ import annotations

from .space import build_space as build_space
from .study import StudyResult as StudyResult
from .study import StudySpec as StudySpec
from .study import journal_path as journal_path
from .study import run_study as run_study

__all__ = ["StudyResult", "StudySpec", "build_space", "journal_path", "run_study"]
