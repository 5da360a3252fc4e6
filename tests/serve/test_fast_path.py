"""The server's shortcut for pass-through numbers gives exactly what ``Bundle.predict`` gives."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from shipyard.bundle import load_bundle
from shipyard.serve._model import ServedModel

from .conftest import Bundles


def test_a_checked_matrix_goes_to_the_model_as_the_transform_would_build_it(
    bundles: Bundles,
) -> None:
    bundle = load_bundle(bundles.cancer)
    model = ServedModel(bundle, "1")
    # register_model with a signature: every feature a float64 column passed through.
    assert model.direct
    rows = bundles.rows.slice(0, 40)
    records = rows.to_pylist()
    records[3][model.signature.names[5]] = None  # a missing value (the features are nullable)
    parts = [model.signature.from_records(records[a:b])[0] for a, b in ((0, 1), (1, 17), (17, 40))]
    assert all(isinstance(p, np.ndarray) for p in parts)
    want = bundle.predict(pa.Table.from_pylist(records, schema=rows.schema))
    for batch in ([parts[0]], parts):  # a lone request, and three batched together
        got = model.predict(batch)
        n = sum(len(p) for p in batch)
        assert got.equals(want.slice(0, n)), (got, want)
    # The general path (transform applied to the columns) gives the same outputs.
    model.direct = False
    assert model.predict(parts).equals(want)
