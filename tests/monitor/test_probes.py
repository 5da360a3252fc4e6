"""Behavioural probes (``shipyard/monitor/probes.py``) on real XGBoost models.

The data make ``a`` matter in a U shape (the late-arrival odds fall, then
rise), so only a model with a monotone constraint on ``a`` can pass "adding to
``a`` never lowers the score"; ``u`` is constant in training, so no model can
use it. The gate and ``shipyard monitor probe`` have their own tests below.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from shipyard.bundle.output import output_table
from shipyard.config import ProbesConfig
from shipyard.errors import ConfigError
from shipyard.monitor.probes import run_probes

FEATURES = ["a", "b", "u"]


def make_rows(n: int, seed: int, *, u: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 10, n)
    b = rng.normal(0, 1, n)
    logit = (a - 5) ** 2 / 5 - 2 + b
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    ids = [f"r{seed}-{i}" for i in range(n)]
    return pa.table({"id": ids, "a": a, "b": b, "u": np.full(n, u), "y": y})


def _matrix(rows: pa.Table) -> np.ndarray:
    return np.column_stack(
        [rows.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in FEATURES]
    )


def train(constraint: int, *, objective: str = "binary:logistic", classes: int = 0) -> object:
    import xgboost

    rows = make_rows(3000, 0)
    y = rows.column("y").to_numpy()
    if classes:
        y = np.digitize(rows.column("a").to_numpy(), [3.3, 6.6])
    elif objective == "reg:squarederror":
        y = (rows.column("a").to_numpy() - 5) ** 2 + rows.column("b").to_numpy()
    params = {
        "objective": objective,
        "max_depth": 3,
        "eta": 0.3,
        "nthread": 1,
        "seed": 0,
        "monotone_constraints": f"({constraint},0,0)",
    }
    if classes:
        params["num_class"] = classes
    dtrain = xgboost.DMatrix(_matrix(rows), label=y, feature_names=FEATURES)
    return xgboost.train(params, dtrain, num_boost_round=40)


def predictor(booster: object, task: str = "binary") -> Callable[[pa.Table], pa.Table]:
    """The model's prediction output for input rows, as the gate's predict is."""
    import xgboost

    def predict(rows: pa.Table) -> pa.Table:
        matrix = xgboost.DMatrix(_matrix(rows), feature_names=FEATURES)
        return output_table(task, booster.predict(matrix), threshold=0.5)  # type: ignore[attr-defined]

    return predict


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    return {"monotone": train(1), "none": train(0), "opposite": train(-1)}


def _scores(booster: object, rows: pa.Table) -> np.ndarray:
    out = predictor(booster)(rows)
    return np.asarray(out.column("probability").to_numpy())


def _shift(rows: pa.Table, column: str, delta: float) -> pa.Table:
    index = rows.schema.get_field_index(column)
    moved = pa.array(rows.column(column).to_numpy() + delta)
    return rows.set_column(index, column, moved)


UP = {"directional": [{"name": "a_up", "column": "a", "delta": 2.0, "expect": "increase"}]}


def test_a_monotone_constraint_passes_the_directional_probe(models: dict[str, object]) -> None:
    rows = make_rows(200, 1)
    report = run_probes(
        ProbesConfig.model_validate(UP), predictor(models["monotone"]), rows, task="binary"
    )
    [result] = report.results
    assert report.passed and result.passed
    assert (result.name, result.kind, result.checked, result.failures) == (
        "a_up",
        "directional",
        200,
        0,
    )
    assert "never lowered the score" in result.message


@pytest.mark.parametrize("model", ["none", "opposite"])
def test_without_the_constraint_the_probe_fails_naming_the_worst_row(
    models: dict[str, object], model: str
) -> None:
    rows = make_rows(200, 1)
    booster = models[model]
    report = run_probes(
        ProbesConfig.model_validate(UP), predictor(booster), rows, task="binary", key="id"
    )
    [result] = report.results
    # The truth, computed here from the model itself: rows whose score fell.
    before, after = _scores(booster, rows), _scores(booster, _shift(rows, "a", 2.0))
    fell = after - before
    assert not report.passed
    assert result.failures == int((fell < 0).sum()) > 0
    worst = int(np.argmin(fell))
    assert result.worst is not None
    assert result.worst["row"] == worst and result.worst["key"] == f"r1-{worst}"
    assert math.isclose(result.worst["before"], before[worst], rel_tol=1e-6)
    assert math.isclose(result.worst["after"], after[worst], rel_tol=1e-6)
    assert f"row {worst} (r1-{worst})" in result.message
    assert f"on {result.failures} of 200 rows" in result.message
    assert report.checks()[0]["passed"] is False and report.checks()[0]["metric"] == "a_up"


def test_directional_skips_rows_where_the_column_is_null(models: dict[str, object]) -> None:
    rows = make_rows(50, 2)
    a = rows.column("a").to_pylist()
    a[3] = a[10] = None
    rows = rows.set_column(1, "a", pa.array(a, pa.float64()))
    report = run_probes(
        ProbesConfig.model_validate(UP), predictor(models["monotone"]), rows, task="binary"
    )
    assert report.results[0].checked == 48 and report.results[0].passed
    assert "2 with it null skipped" in report.results[0].message


def test_invariance_holds_on_an_unused_feature_and_breaks_on_a_used_one(
    models: dict[str, object],
) -> None:
    rows = make_rows(100, 3)
    config = ProbesConfig.model_validate(
        {
            "invariance": [
                {"column": "u", "values": [-5, 0, 3.5, 100]},
                {"column": "a", "values": [1.0, 9.0], "tolerance": 0.05},
            ]
        }
    )
    booster = models["monotone"]
    unused, used = run_probes(config, predictor(booster), rows, task="binary").results
    assert unused.passed and unused.name == "invariance:u" and unused.failures == 0
    assert unused.worst is not None and unused.worst["change"] == 0.0
    before = _scores(booster, rows)
    changes = [
        np.abs(_scores(booster, rows.set_column(1, "a", pa.array(np.full(100, v)))) - before)
        for v in (1.0, 9.0)
    ]
    moved = np.max(changes, axis=0)
    assert not used.passed
    assert used.failures == int((moved > 0.05).sum()) > 0
    assert used.worst is not None and used.worst["row"] == int(np.argmax(moved))
    assert used.worst["value"] in (1.0, 9.0)
    assert "moved the score by more than the tolerance 0.05" in used.message


def test_invariance_without_values_tries_the_values_seen(models: dict[str, object]) -> None:
    rows = make_rows(30, 4, u=7.0)
    config = ProbesConfig.model_validate({"invariance": [{"column": "u"}]})
    [result] = run_probes(config, predictor(models["none"]), rows, task="binary").results
    assert result.passed and "to 1 value moved" in result.message


def test_a_timestamp_column_is_probed_and_the_report_is_json(models: dict[str, object]) -> None:
    import datetime as dt

    rows = make_rows(20, 12)
    start = dt.datetime(2013, 6, 1)
    times = pa.array([start + dt.timedelta(hours=i) for i in range(20)], pa.timestamp("us"))
    rows = rows.append_column("when", times)
    config = ProbesConfig.model_validate(
        {"invariance": [{"column": "when", "values": ["2013-07-01 12:00:00"]}]}
    )
    report = run_probes(config, predictor(models["none"]), rows, task="binary", key="when")
    [result] = report.results
    assert result.passed  # the model does not read it
    data = json.loads(json.dumps(report.to_dict()))
    assert data["results"][0]["worst"]["key"] == "2013-06-01T00:00:00"
    bad = ProbesConfig.model_validate({"invariance": [{"column": "when", "values": ["July"]}]})
    with pytest.raises(ConfigError, match=r"invariance\[0\]\.values.*'July' cannot be read"):
        run_probes(bad, predictor(models["none"]), rows, task="binary")


def test_fixed_cases_pass_and_fail_with_their_numbers(models: dict[str, object]) -> None:
    rows = make_rows(20, 5)
    config = ProbesConfig.model_validate(
        {
            "fixed": [
                {"name": "far_right", "input": {"a": 9.8, "b": 2.0}, "min": 0.8, "expect": 1},
                {"name": "middle", "input": {"a": 5.0, "b": -2.0}, "min": 0.8},
                {"name": "middle_low", "input": {"a": 5.0, "b": -2.0}, "max": 0.2},
            ]
        }
    )
    booster = models["monotone"]
    far, middle, low = run_probes(config, predictor(booster), rows, task="binary").results
    # The column u, left out, takes the rows' most frequent value (all are 0).
    expected = _scores(booster, pa.table({"a": [5.0], "b": [-2.0], "u": [0.0]}))[0]
    assert far.passed and far.worst is not None and far.worst["label"] == 1
    assert not middle.passed and middle.failures == 1
    assert middle.worst is not None and math.isclose(middle.worst["after"], expected)
    assert f"the score {expected:.4g} is below the minimum 0.8" in middle.message
    assert low.passed


def test_a_probe_naming_a_missing_column_is_a_config_error(models: dict[str, object]) -> None:
    rows = make_rows(10, 6)
    bad = ProbesConfig.model_validate(
        {"directional": [{"column": "aa", "delta": 1, "expect": "increase"}]}
    )
    with pytest.raises(ConfigError, match=r"directional\[0\]\.column.*'aa'.*did you mean 'a'"):
        run_probes(bad, predictor(models["none"]), rows, task="binary")
    case = ProbesConfig.model_validate({"fixed": [{"input": {"bb": 1}, "min": 0}]})
    with pytest.raises(ConfigError, match=r"fixed\[0\]\.input.*'bb'"):
        run_probes(case, predictor(models["none"]), rows, task="binary")


def test_sampling_is_seeded_and_indexes_the_given_rows(models: dict[str, object]) -> None:
    rows = make_rows(1000, 7)
    config = ProbesConfig.model_validate({"rows": 100, **UP})
    first = run_probes(config, predictor(models["none"]), rows, task="binary", key="id")
    again = run_probes(config, predictor(models["none"]), rows, task="binary", key="id")
    assert first.rows == 100 and first.results[0].checked == 100
    assert first.to_dict() == again.to_dict()
    worst = first.results[0].worst
    assert worst is not None and worst["key"] == f"r7-{worst['row']}"


def test_multiclass_and_regression_scores() -> None:
    rows = make_rows(60, 8)
    multi = train(0, objective="multi:softprob", classes=3)
    config = ProbesConfig.model_validate(
        {
            "invariance": [{"column": "u", "values": [1, 50]}],
            "fixed": [{"input": {"a": 9.5, "b": 0}, "expect": 2, "min": 0.5}],
        }
    )
    invariance, fixed = run_probes(
        config, predictor(multi, "multiclass"), rows, task="multiclass"
    ).results
    assert invariance.passed and fixed.passed and fixed.worst is not None
    assert fixed.worst["label"] == 2 and fixed.worst["after"] > 0.5
    regression = train(1, objective="reg:squarederror")
    up = ProbesConfig.model_validate(
        {
            **UP,
            "fixed": [{"input": {"a": 0.0, "b": 0.0}, "max": 1.0}],  # (0 - 5)^2 = 25: too high
        }
    )
    directional, case = run_probes(
        up, predictor(regression, "regression"), rows, task="regression"
    ).results
    assert directional.passed
    assert not case.passed and "is above the maximum 1" in case.message


def test_the_evaluation_report_shows_each_probe_in_the_verdict_table(
    models: dict[str, object],
) -> None:
    from shipyard.evaluate import Verdict, evaluate, render_evaluation_report

    rows = make_rows(200, 1)
    report = run_probes(
        ProbesConfig.model_validate(UP), predictor(models["none"]), rows, task="binary"
    )
    scores = _scores(models["none"], rows)
    result = evaluate("binary", rows.column("y").to_numpy(), scores)
    assert result.verdict is not None
    checks = [*result.verdict.checks, *report.checks()]
    result.verdict = Verdict(False, [report.results[0].message], checks)
    page = render_evaluation_report(result)
    assert "behavioural probe" in page and "a_up" in page
    assert "probe &#x27;a_up&#x27; failed" in page or "probe 'a_up' failed" in page
    assert Verdict.from_dict(result.verdict.to_dict()).checks[-1]["metric"] == "a_up"


# -- at the gate ----------------------------------------------------------------------------

GATE_YAML = """\
project:
  name: probes
data:
  source:
    path: rows.csv
  target: y
  key: id
features:
  exclude: [u]
train:
  algorithm: xgboost
  params: {{n_estimators: 60, max_depth: 3, monotone_constraints: {{a: {constraint}}}}}
  early_stopping_rounds: 10
evaluate:
  metrics: [roc_auc]
  gate:
    compare_to: null
register:
  model_name: toy
  alias: production
monitor:
  probes:
    directional:
      - {{name: a_never_lowers, column: a, delta: 2, expect: increase}}
    invariance:
      - {{name: u_is_unused, column: u, values: [0, 1000]}}
"""


@pytest.mark.slow
def test_the_gate_rejects_a_candidate_that_fails_a_probe(project_dir: Path) -> None:
    import pyarrow.csv as pacsv

    from ..conftest import cli

    pacsv.write_csv(make_rows(3000, 9), project_dir / "rows.csv")
    (project_dir / "shipyard.yaml").write_text(GATE_YAML.format(constraint=0))
    rejected = cli("run", cwd=project_dir, timeout=600)
    assert rejected.returncode == 3, rejected.stderr
    assert "probe 'a_never_lowers' failed" in rejected.stderr
    assert "not registered" in rejected.stderr
    (project_dir / "shipyard.yaml").write_text(GATE_YAML.format(constraint=1))
    blessed = cli("run", "--json", cwd=project_dir, timeout=600)
    assert blessed.returncode == 0, blessed.stderr
    metrics = json.loads(blessed.stdout)["metrics"]
    assert metrics["probe:a_never_lowers"] == 1.0 and metrics["probe:u_is_unused"] == 1.0
    shown = json.loads(cli("models", "show", "toy", "--json", cwd=project_dir).stdout)
    assert len(shown["versions"]) == 1
    # The blessed model served: the same probes pass live, on the eval split of its run by
    # default; rows with a null in a feature that had none in training are left out.
    from ..serve.conftest import start_server, stop_server

    url, proc = start_server(["toy@production"], project_dir, project_dir / "serve.log")
    try:
        live = cli("monitor", "probe", "--url", url, "--json", cwd=project_dir)
        assert live.returncode == 0, live.stderr
        probed = json.loads(live.stdout)
        assert probed["passed"] and probed["rows_from"].startswith("the eval split of run")
        rows = make_rows(40, 13)
        rows = rows.set_column(1, "a", pa.array([None] * 5 + rows.column("a").to_pylist()[5:]))
        pacsv.write_csv(rows, project_dir / "holes.csv")
        holes = cli("monitor", "probe", "--url", url, "--rows", "holes.csv", cwd=project_dir)
        assert holes.returncode == 0, holes.stdout + holes.stderr
        assert "35 rows from holes.csv, less 5 with a null the model refuses" in holes.stdout
    finally:
        stop_server(proc)
