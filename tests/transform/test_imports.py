"""The server's import of apply stays small: NumPy and pyarrow, no training stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from . import fit_table

HEAVY = [
    "pandas", "sklearn", "xgboost", "lightgbm", "torch", "scipy", "pydantic", "duckdb",
    "sqlalchemy", "matplotlib", "shipyard.config", "shipyard.validate", "shipyard.data",
    "shipyard.transform.fit", "shipyard.transform._plan", "shipyard.transform.spec",
]  # fmt: skip


def test_applying_a_saved_transform_imports_no_training_stack(tmp_path: Path) -> None:
    table = pa.table(
        {
            "x": [1.0, None, 3.0],
            "c": ["a", "b", "a"],
            "t": pa.array([0, 3600, None], pa.timestamp("s")),
        }
    )
    fitted = fit_table(tmp_path / "d", table)
    (tmp_path / "transform.json").write_text(fitted.to_json())
    code = f"""
import json, sys
from shipyard.transform.apply import FittedTransform
imported = [m for m in {HEAVY!r} if m in sys.modules]
fitted = FittedTransform.from_dict(json.load(open({str(tmp_path / "transform.json")!r})))
out = fitted.apply({{"x": [2.0], "c": ["b"], "t": ["2024-01-01T10:00:00"]}})
applied = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps({{"shape": list(out.shape), "imported": imported, "applied": applied}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(done.stdout)
    assert report["shape"] == [1, len(fitted.feature_names)]
    assert report["imported"] == []
    # pyarrow itself imports pandas on its first pa.array() when pandas is installed (as in
    # the dev environment; pandas is an extra, not a dependency). Nothing else may come in.
    assert [m for m in report["applied"] if m != "pandas"] == []
