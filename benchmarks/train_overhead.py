"""Overhead of Shipyard's train step over calling XGBoost and LightGBM directly.

One run of the standard pipeline ingests a Parquet file of ``--rows`` training
rows and 28 float features (plus eval and test rows: 80/10/10 split), so the
train split holds exactly ``--rows`` rows. Then, for each framework, with the
same parameters (hist, ``--rounds`` rounds, depth 6, every core):

- ``shipyard``: the ``train_model`` step of ``shipyard run`` (read the train and
  eval splits' Parquet shards, apply the fitted transform, train with the eval
  split watched, save the model artifact), timed by the engine
  (``duration_s`` of the step in the run record);
- ``direct``: a fresh ``python`` process timing what a user's script does with
  the same train split: import the library, read the Parquet shards, build the
  DMatrix / Dataset, train, save the model file.

Overhead is ``shipyard / direct - 1``; the goal is at most 5%. A second direct
figure, ``direct+eval``, also watches the eval split with the step's metrics,
which tells the price of the per-round curves apart from the engine's own.

It is a measurement, not a test: it exits 0 when a goal is missed and says
MISSED. The last line of the output is one JSON object with every figure.

Usage::

    .venv/bin/python benchmarks/train_overhead.py [--rows 1000000] [--rounds 200] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

GOAL_OVERHEAD = 0.05
FEATURES = 28
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))

YAML = """\
project:
  name: bench
data:
  source:
    path: data.parquet
  target: label
  splits: {{method: random, train: 0.8, eval: 0.1, test: 0.1}}
train:
  algorithm: {algorithm}
  early_stopping_rounds: null
  params: {params}
evaluate:
  metrics: [roc_auc]
"""
PARAMS = {
    "xgboost": {"tree_method": "hist", "max_depth": 6, "num_boost_round": "{rounds}"},
    "lightgbm": {"max_depth": 6, "num_leaves": 63, "num_iterations": "{rounds}"},
}

# The user's script: everything a direct call does, timed from before the import.
DIRECT = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    framework, params, rounds, train_files, eval_files, label, out, watch = json.loads(sys.argv[1])
    import numpy as np, pyarrow.parquet as pq
    def read(files):
        t = pq.ParquetFile(files[0]).read() if len(files) == 1 else pq.read_table(files)
        y = t.column(label).to_numpy()
        cols = [c for c in t.column_names if c != label]
        x = np.column_stack([t.column(c).to_numpy() for c in cols]).astype(np.float32)
        return x, y
    x, y = read(train_files)
    if framework == "xgboost":
        import xgboost
        dtrain = xgboost.DMatrix(x, label=y, nthread=params.get("nthread", 0))
        evals = []
        if watch:
            xe, ye = read(eval_files)
            evals = [(xgboost.DMatrix(xe, label=ye), "eval")]
        booster = xgboost.train(params, dtrain, rounds, evals=evals, verbose_eval=False)
        booster.save_model(out + ".ubj")
    else:
        import lightgbm
        dtrain = lightgbm.Dataset(x, label=y)
        valid = []
        if watch:
            xe, ye = read(eval_files)
            valid = [lightgbm.Dataset(xe, label=ye, reference=dtrain)]
        booster = lightgbm.train(params, dtrain, num_boost_round=rounds, valid_sets=valid)
        booster.save_model(out + ".txt")
    print(json.dumps({"seconds": time.perf_counter() - t0}))
    """
)


def make_data(path: Path, rows: int, seed: int = 0) -> None:
    """``rows`` rows of 28 float features and a binary label that depends on them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    w = rng.standard_normal(FEATURES).astype(np.float32)
    logit = x @ w * 0.5 + np.sin(x[:, 0] * 2) + x[:, 1] * x[:, 2]
    y = (logit + rng.logistic(size=rows) > 0).astype(np.int8)
    table = pa.table({**{f"f{i:02d}": x[:, i] for i in range(FEATURES)}, "label": y})
    pq.write_table(table, path, row_group_size=1 << 17)


def _cli(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [SHIPYARD, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        raise SystemExit(f"shipyard {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def shipyard_train(
    project: Path, framework: str, rounds: int, *, no_cache: bool = False
) -> dict[str, Any]:
    """Run the standard pipeline; the train step's duration, its params and the split files."""
    params = {k: (rounds if v == "{rounds}" else v) for k, v in PARAMS[framework].items()}
    (project / "shipyard.yaml").write_text(
        YAML.format(algorithm=framework, params=json.dumps(params))
    )
    run = json.loads(_cli("run", "--json", *(["--no-cache"] if no_cache else []), cwd=project))
    steps = {s["node"]: s for s in run["steps"]}
    train = steps["train_model"]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from shipyard.pipeline.materializers import load_value
    from shipyard.pipeline.project import Project

    p = Project.discover(project)
    try:
        dataset = load_value(steps["ingest_files"]["outputs"]["output[0]"], p.artifacts)
        model = load_value(train["outputs"]["output"], p.artifacts)
        files = {s: [str(f) for f in dataset.files(s)] for s in ("train", "eval")}
    finally:
        p.close()
    return {
        "seconds": train["duration_s"],
        "params": model.params,
        "files": files,
        "rows": dataset.num_rows("train"),
        "cache_hit": train["cache_hit"],
    }


def direct_train(
    framework: str, params: dict[str, Any], rounds: int, files: dict[str, list[str]], watch: bool
) -> float:
    params = {k: v for k, v in params.items() if k not in _STEP_ONLY}
    if framework == "xgboost":
        params["nthread"] = os.cpu_count()
    else:
        params["num_threads"] = os.cpu_count()
        params["verbosity"] = -1
    with tempfile.TemporaryDirectory() as tmp:
        arg = json.dumps(
            [framework, params, rounds, files["train"], files["eval"], "label", f"{tmp}/m", watch]
        )
        done = subprocess.run(
            [sys.executable, "-c", DIRECT, arg], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"direct {framework} failed:\n{done.stderr[-3000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


# Parameters the step records that are not booster parameters.
_STEP_ONLY = {"num_boost_round", "early_stopping_rounds", "num_iterations", "early_stopping_round"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the train split")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--frameworks", default="xgboost,lightgbm")
    args = ap.parse_args()
    results: dict[str, Any] = {
        "rows": args.rows,
        "features": FEATURES,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        project = Path(tmp)
        total = round(args.rows / 0.8)
        t = time.perf_counter()
        make_data(project / "data.parquet", total)
        print(f"data: {total:,} rows x {FEATURES} features ({time.perf_counter() - t:.1f} s)")
        for framework in args.frameworks.split(","):
            ship, direct, watched = [], [], []
            for i in range(args.repeat):
                got = shipyard_train(project, framework, args.rounds, no_cache=i > 0)
                ship.append(got["seconds"])
                direct.append(
                    direct_train(framework, got["params"], args.rounds, got["files"], False)
                )
                watched.append(
                    direct_train(framework, got["params"], args.rounds, got["files"], True)
                )
                print(
                    f"{framework} #{i + 1}: shipyard {ship[-1]:.2f} s, direct {direct[-1]:.2f} s,"
                    f" direct+eval {watched[-1]:.2f} s (train rows {got['rows']:,})"
                )
            s, d, w = (statistics.median(v) for v in (ship, direct, watched))
            overhead = s / d - 1
            results[framework] = {
                "shipyard_s": round(s, 3),
                "direct_s": round(d, 3),
                "direct_eval_s": round(w, 3),
                "overhead": round(overhead, 4),
                "overhead_vs_direct_eval": round(s / w - 1, 4),
                "goal_met": overhead <= GOAL_OVERHEAD,
            }
    print()
    print(
        f"{'framework':<10} {'shipyard s':>11} {'direct s':>9} {'direct+eval s':>14} {'overhead':>9}  goal <= 5%"
    )
    for framework in args.frameworks.split(","):
        r = results[framework]
        verdict = "met" if r["goal_met"] else "MISSED"
        print(
            f"{framework:<10} {r['shipyard_s']:>11.2f} {r['direct_s']:>9.2f}"
            f" {r['direct_eval_s']:>14.2f} {r['overhead']:>+9.1%}  {verdict}"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
