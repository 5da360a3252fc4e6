"""`shipyard init DATA_FILE --target COLUMN`: the choices it writes, and its errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml

from shipyard.cli._init_columns import column_facts, infer_target
from shipyard.cli._init_data import infer, project_name
from shipyard.cli._init_yaml import render
from shipyard.config import load_config
from shipyard.train.steps import infer_task

from ..conftest import cli

N = 400


def _customers(folder: Path) -> Path:
    """A CSV with an ID, a second identifier, a row number, a constant, strings, dates, gaps."""
    rng = np.random.default_rng(0)
    plan = rng.choice(["basic", "pro", "team"], N)
    spend = rng.gamma(2.0, 30.0, N)
    churn = np.where((plan == "basic") & (spend < 60), "left", "stayed")
    spend[rng.random(N) < 0.05] = np.nan
    table = pa.table(
        {
            "customer_id": [f"C{i:05d}" for i in range(N)],
            "order_id": rng.permutation(N) + 10_000,
            "row": np.arange(N),
            "country": ["NL"] * N,
            "plan": plan,
            "city": [f"city{c}" for c in rng.integers(0, 150, N)],
            "note": [f"free text {i} {rng.integers(10**9)}" for i in range(N)],
            "signup": [dt.date(2023, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 300, N)],
            "last_seen": [dt.datetime(2024, 1, 1, 8) + dt.timedelta(hours=int(h)) for h in rng.integers(0, 3000, N)],
            "spend": pa.array(spend, from_pandas=True),
            "churn": churn,
        }
    )  # fmt: skip
    path = folder / "customers.csv"
    pacsv.write_csv(table, path)
    return path


def _by_name(features: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in features["columns"]}


def test_the_features_written_for_ids_constants_strings_and_dates(tmp_path: Path) -> None:
    _customers(tmp_path)
    r = cli("init", "customers.csv", "--target", "churn", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "next: shipyard run" in r.stdout and "left out country" in r.stdout
    text = (tmp_path / "shipyard.yaml").read_text()
    written = yaml.safe_load(text)

    data = written["data"]
    assert data["source"] == {"path": "customers.csv"}
    assert data["key"] == "customer_id"  # named like an ID, unique per row
    # Text labels become the codes the trainers need; "left", the rarer, is the positive class.
    assert data["task"] == "binary" and data["target"] == "churn_code"
    assert data["target_expr"] == "CASE \"churn\" WHEN 'stayed' THEN 0 WHEN 'left' THEN 1 END"
    assert data["splits"]["method"] == "random" and data["splits"]["eval"] == 0.2

    features = written["features"]
    assert features["exclude"] == ["churn", "order_id", "row", "country", "note"]
    columns = _by_name(features)
    assert list(columns) == ["plan", "city", "signup", "last_seen", "spend"]
    assert columns["plan"] == {
        "name": "plan",
        "kind": "categorical",
        "transforms": [{"op": "vocabulary"}, {"op": "onehot"}],
    }
    assert columns["city"]["transforms"] == [
        {"op": "vocabulary", "min_frequency": 5},
        {"op": "ordinal"},
    ]
    # Parts that never change (the year of signup, every hour of a date) are left out.
    assert columns["signup"]["kind"] == "datetime"
    assert columns["signup"]["transforms"] == [
        {"op": "parts", "parts": ["month", "day", "weekday"]}
    ]
    assert columns["last_seen"]["transforms"][0]["parts"][-1] == "hour"
    assert columns["spend"] == {
        "name": "spend",
        "kind": "numeric",
        "transforms": [{"op": "impute", "strategy": "median"}],
    }
    # Each choice says why, in a comment.
    for why in (
        "# 3 distinct values (",
        "# constant: NL in every row",
        "# row number",
        "# identifier: unique per row",
        "# text or identifier",
        "% missing",
        "'customer_id' is unique per row",
    ):
        assert why in text, why

    config = load_config(tmp_path / "shipyard.yaml")
    assert config.train.algorithm == "xgboost" and config.train.early_stopping_rounds
    assert config.evaluate.gate.thresholds == {}
    assert config.register.model_name == "customers" and config.register.alias == "production"
    assert cli("config", "check", cwd=tmp_path).returncode == 0

    run = cli("run", "--json", cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    metrics = json.loads(run.stdout)["metrics"]
    assert metrics["blessed"] == 1 and metrics["eval_roc_auc"] > 0.8


def test_a_missing_target_names_it_and_the_closest_column(tmp_path: Path) -> None:
    _customers(tmp_path)
    r = cli("init", "customers.csv", "--target", "chrun", cwd=tmp_path)
    assert r.returncode == 2
    assert "--target 'chrun'" in r.stderr and "did you mean 'churn'?" in r.stderr
    assert "customer_id, order_id" in r.stderr  # the columns are listed
    assert not (tmp_path / "shipyard.yaml").exists()


def test_an_existing_shipyard_yaml_is_kept_without_force(tmp_path: Path) -> None:
    _customers(tmp_path)
    (tmp_path / "shipyard.yaml").write_text("project:\n  name: mine\n")
    r = cli("init", "customers.csv", "--target", "churn", cwd=tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr and "--force" in r.stderr
    assert (tmp_path / "shipyard.yaml").read_text() == "project:\n  name: mine\n"
    forced = cli("init", "customers.csv", "--target", "churn", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert load_config(tmp_path / "shipyard.yaml").data.target == "churn_code"


def test_the_argument_decides_between_scaffold_and_data_file(tmp_path: Path) -> None:
    _customers(tmp_path)
    no_target = cli("init", "customers.csv", cwd=tmp_path)
    assert no_target.returncode == 2 and "--target is required" in no_target.stderr
    (tmp_path / "proj").mkdir()
    on_folder = cli("init", "proj", "--target", "churn", cwd=tmp_path)
    assert on_folder.returncode == 2 and "--target" in on_folder.stderr
    assert not (tmp_path / "proj" / "shipyard.yaml").exists()
    missing = cli("init", "nothing.csv", "--target", "y", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    (tmp_path / "notes.txt").write_text("hello\n")
    other = cli("init", "notes.txt", "--target", "y", cwd=tmp_path)
    assert other.returncode == 2 and "not a folder nor a data file" in other.stderr
    bad_task = cli("init", "customers.csv", "--target", "spend", "--task", "ranking", cwd=tmp_path)
    assert bad_task.returncode == 2 and "--task 'ranking'" in bad_task.stderr


def test_dir_writes_elsewhere_with_a_relative_path(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _customers(data)
    r = cli(
        "init", "data/customers.csv", "--target", "spend", "--dir", "proj", "--name", "shop",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "next: cd proj && shipyard run" in r.stdout
    config = load_config(tmp_path / "proj" / "shipyard.yaml")
    assert config.project.name == "shop"
    assert config.data.task == "regression" and config.evaluate.metrics[0] == "r2"
    # The target has gaps: the rows without one are left out by a query.
    assert config.data.source is not None and config.data.source.kind == "duckdb"
    assert "read_csv('../data/customers.csv')" in str(config.data.source.query)
    assert '"spend" IS NOT NULL' in str(config.data.source.query)


def test_parquet_and_jsonl_and_names_that_need_quotes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    table = pa.table(
        {
            "a,b": rng.normal(size=60),
            "yes": rng.normal(size=60),
            "#x": rng.integers(0, 3, 60),
            "名前": rng.choice(["x", "y"], 60),
            "label": rng.integers(1, 3, 60),
        }
    )
    pq.write_table(table, tmp_path / "odd names.parquet")
    with (tmp_path / "odd.jsonl").open("w") as f:
        for row in table.to_pylist():
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    for file in ("odd names.parquet", "odd.jsonl"):
        found = infer(tmp_path / file, "label", folder=tmp_path)
        written = yaml.safe_load(render(found))
        assert [c["name"] for c in written["features"]["columns"]] == ["a,b", "yes", "#x", "名前"]
        # Labels 1 and 2 are coded 0 and 1, the larger number the positive class.
        assert written["data"]["target_expr"] == 'CASE "label" WHEN 1 THEN 0 WHEN 2 THEN 1 END'
    assert project_name(tmp_path / "odd names.parquet") == "odd-names"
    assert project_name(Path("My Data (v2).csv.gz")) == "My-Data-v2"
    assert project_name(Path("__.csv")) == "project"


class _Split:
    """The one method of a Dataset that ``infer_task`` reads."""

    def __init__(self, table: pa.Table) -> None:
        self.schema, self._table = table.schema, table

    def to_table(self, split: str, columns: list[str]) -> pa.Table:
        return self._table.select(columns)


@pytest.mark.parametrize(
    "values",
    [
        [True, False, True],
        [0, 1, 1, 0],
        [0, 1, 2, 3, 4, 2],
        [0.0, 1.0, 1.0],
        [0.5, 1.25, 3.0],
        list(range(60)),
        [float(v) for v in range(60)],
    ],
    ids=["bool", "01", "classes", "float-01", "floats", "many-ints", "many-whole-floats"],
)
def test_the_task_follows_the_train_steps_rule(values: list[Any]) -> None:
    table = pa.table({"y": values})
    expected, _ = infer_task(_Split(table), "y")  # type: ignore[arg-type]
    facts = column_facts(table.column("y"), "y")
    labels = {v: 1 for v in pc.unique(table.column("y")).to_pylist()}
    distinct = len(labels)
    found = infer_target(facts, labels if distinct <= 50 else {}, distinct, "auto", ["y"])
    assert found.task == expected


def test_a_task_that_does_not_fit_the_target_is_refused(tmp_path: Path) -> None:
    _customers(tmp_path)
    for target, task, message in (
        ("plan", "regression", "--task regression needs a numeric target"),
        ("plan", "binary", "--task binary needs a target with 2 values"),
        ("country", "auto", "nothing to learn"),
    ):
        r = cli("init", "customers.csv", "--target", target, "--task", task, cwd=tmp_path)
        assert r.returncode == 2 and message in r.stderr, r.stderr
