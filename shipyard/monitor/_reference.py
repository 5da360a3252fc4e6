"""What a window is compared with: the served version's bundle and its statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..validate.stats import DatasetStatistics

__all__ = ["Reference", "output_columns", "score_column"]


@dataclass
class Reference:
    """One model version's references, read once from its bundle.

    ``training``: raw columns of the train split; ``predictions``: the model's
    outputs on the eval split; ``features``: the transformed train split (None
    in bundles written before it existed: no skew).
    """

    name: str
    version: str
    task: str
    threshold: float | None
    key: str | None
    inputs: list[str]
    outputs: list[str]
    transform: Any
    training: DatasetStatistics | None
    predictions: DatasetStatistics | None
    features: DatasetStatistics | None

    @classmethod
    def from_bundle(cls, bundle: Any, version: str) -> Reference:
        return cls(
            name=bundle.name,
            version=version,
            task=bundle.task,
            threshold=bundle.threshold,
            key=bundle.key,
            inputs=[f["name"] for f in bundle.input_signature],
            outputs=output_columns(bundle.output_signature),
            transform=bundle.transform,
            training=bundle.training_statistics(),
            predictions=bundle.prediction_statistics(),
            features=bundle.feature_statistics(),
        )


def output_columns(signature: list[dict[str, Any]]) -> list[str]:
    return [str(o["name"]) for o in signature]


def score_column(task: str) -> str:
    """The output column whose drift is ``prediction_psi``."""
    return {"binary": "probability", "regression": "prediction"}.get(task, "label")
