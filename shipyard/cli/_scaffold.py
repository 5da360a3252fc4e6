"""``shipyard init``: the files of a new project."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigError

__all__ = ["scaffold"]

_YAML = """\
# shipyard.yaml — the project's config. Reference: docs/config.md
project:
  name: {name}
# The pipeline `shipyard run` runs when given no FILE.py:PIPELINE.
pipeline: pipeline.py:demo
# Seeds random, NumPy and the ML frameworks in every step; recorded with each run.
seed: 0
# store:
#   url: postgresql+psycopg://user@host/db   # default: SQLite in .shipyard/
#   artifacts: s3://bucket/shipyard          # default: .shipyard/artifacts
executor:
  kind: local        # worker processes on this machine; `inline` to debug
"""

_PIPELINE = '''\
"""A starting pipeline: replace the bodies with your notebook's code."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

import shipyard
from shipyard import pipeline, step


@step
def load(n: int = 1000) -> pa.Table:
    rng = np.random.default_rng(shipyard.current_seed())
    x = rng.normal(size=n)
    return pa.table({"x": x, "y": 2 * x + rng.normal(scale=0.1, size=n)})


@step
def fit(table: pa.Table) -> dict:
    x, y = table["x"].to_numpy(), table["y"].to_numpy()
    slope, intercept = np.polyfit(x, y, 1)
    shipyard.log_metric("slope", float(slope))
    return {"slope": float(slope), "intercept": float(intercept)}


@pipeline
def demo(n: int = 1000):
    fit(load(n))
'''


def scaffold(folder: Path, name: str | None) -> list[Path]:
    """Write the project files into ``folder``; never overwrite an existing file."""
    folder.mkdir(parents=True, exist_ok=True)
    name = name or folder.resolve().name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        raise ConfigError(
            f"project name {name!r}: use letters, digits, '_', '-' or '.', starting with a"
            " letter or digit (pass --name)"
        )
    files = {
        folder / "shipyard.yaml": _YAML.format(name=name),
        folder / "pipeline.py": _PIPELINE,
    }
    existing = [str(p) for p in files if p.exists()]
    if existing:
        raise ConfigError(f"{', '.join(existing)} already exist(s); init writes into a new folder")
    for path, text in files.items():
        path.write_text(text)
    ignore = folder / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if ".shipyard/" not in lines:
        ignore.write_text("\n".join([*lines, ".shipyard/"]) + "\n")
    return [*files, ignore]
