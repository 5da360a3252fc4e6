"""Float64 NumPy columns (what the server hands the transform) give the features Arrow gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from shipyard.registry.imports import passthrough_transform

from . import fit_table

RNG = np.random.default_rng(11)
N = 97
A = RNG.normal(size=N)
B = RNG.normal(5.0, 3.0, N)
A[[2, 40]] = np.nan
B[[7]] = np.nan
CITY = [["oslo", "rome", None, "lima"][i % 4] for i in range(N)]
TABLE = pa.table(
    {
        "a": pa.array(A, from_pandas=True),  # NaN -> NULL, as ingest stores it
        "b": pa.array(B, from_pandas=True),
        "city": pa.array(CITY, type=pa.string()),
    }
)


def _numpy(*names: str) -> dict[str, np.ndarray]:
    return {n: TABLE.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in names}


def test_pass_through_numbers_from_numpy_equal_the_arrow_path() -> None:
    # The transform of a model registered with a signature (shipyard.register_model).
    fitted = passthrough_transform([("a", pa.float64()), ("b", pa.float64())])
    assert fitted.compiled.numbers == ["a", "b"]  # the one-copy path is taken
    columns = _numpy("a", "b")
    kept = {n: c.copy() for n, c in columns.items()}
    for order in ("C", "F"):
        got = fitted.apply(columns, order=order)
        want = fitted.apply(TABLE.select(["a", "b"]), order=order)
        assert got.dtype == np.float32 and got.shape == (N, 2)
        np.testing.assert_array_equal(got, want)  # NaN where the value is missing, in both
        assert got.flags.c_contiguous == (order == "C")
    assert np.isnan(fitted.apply(columns)[[2, 40], 0]).all()
    for name, column in columns.items():  # the caller's arrays are left as they were
        np.testing.assert_array_equal(column, kept[name])
    empty = fitted.apply({"a": np.empty(0), "b": np.empty(0)})
    assert empty.shape == (0, 2)
    # Other inputs still take the general path and its messages.
    with pytest.raises(ValueError, match="missing input columns"):
        fitted.apply({"a": columns["a"]})
    with pytest.raises(ValueError, match="column 'b' has 3 values"):
        fitted.apply({"a": columns["a"], "b": columns["b"][:3]})
    lists = fitted.apply({"a": A.tolist(), "b": B.tolist()})
    np.testing.assert_array_equal(lists, fitted.apply(columns))


def test_numpy_numbers_with_ops_and_categories_equal_the_arrow_path(tmp_path: Path) -> None:
    spec = {
        "columns": [
            {
                "name": "a",
                "transforms": [{"op": "impute", "value": 0.5}, {"op": "clip", "upper": 1}],
            },
            {"name": "b", "transforms": []},
            {"name": "city"},
        ]
    }
    fitted = fit_table(tmp_path, TABLE, spec)
    assert fitted.compiled.numbers is None  # an imputed number and a category: general path
    columns: dict[str, object] = {**_numpy("a", "b"), "city": CITY}
    kept = A.copy()
    got = fitted.apply(columns)
    np.testing.assert_array_equal(got, fitted.apply(TABLE))
    assert got[2, 0] == 0.5 and got[40, 0] == 0.5  # imputed, then clipped at 1
    np.testing.assert_array_equal(columns["a"], kept)  # impute wrote into a copy
