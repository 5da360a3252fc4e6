"""The quickstart: three notebook functions turned into a cached, recorded pipeline.

Run it with ``shipyard run pipeline.py:demo --param depth=5``, or in Python
with ``demo(depth=5)``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.tree import DecisionTreeClassifier

import shipyard
from shipyard import pipeline, step

Model = DecisionTreeClassifier


@step
def load(n: int = 1000) -> pa.Table:
    """Make a table of two noisy features and a label (a stand-in for reading a source)."""
    rng = np.random.default_rng(shipyard.current_seed())
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    label = (x1 + 0.5 * x2 + rng.normal(scale=0.5, size=n) > 0).astype("int8")
    return pa.table({"x1": x1, "x2": x2, "label": label})


@step
def featurize(table: pa.Table) -> pa.Table:
    """Add an interaction feature."""
    return table.append_column("x1_x2", pc.multiply(table["x1"], table["x2"]))


@step
def fit(features: pa.Table, depth: int = 3) -> Model:
    """Fit a decision tree and log its training accuracy."""
    x = np.column_stack([features[c].to_numpy() for c in ("x1", "x2", "x1_x2")])
    y = features["label"].to_numpy()
    model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(x, y)
    shipyard.log_metric("train_accuracy", float(model.score(x, y)))
    return model


@pipeline
def demo(n: int = 1000, depth: int = 3):
    fit(featurize(load(n)), depth=depth)
