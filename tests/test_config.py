"""Tests of shipyard/config.py: the schema of shipyard.yaml, its loader and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shipyard import config as config_module
from shipyard.config import (
    RegisterConfig,
    ShipyardConfig,
    export_json_schema,
    find_project_root,
    load_config,
    load_project,
    parse_duration,
)
from shipyard.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
TOKEN = "tok-0123456789abcdef"
SECRET = "s3cr3t-Passw0rd"


def write(folder: Path, text: str, name: str = "shipyard.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


# -- defaults ---------------------------------------------------------------------------


def test_empty_file_is_the_default_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "proj", ""))
    assert config.project.name == "proj"
    assert config.seed == 0
    assert config.pipeline is None
    assert config.store.url is None and config.store.artifacts is None
    assert config.store.gc_retention_days == 30
    assert config.executor.kind == "local" and config.executor.workers is None
    assert config.train.algorithm == "sklearn"
    assert config.serve.host == "127.0.0.1" and config.serve.port == 8080
    assert config.serve.auth.enabled is False and config.serve.auth.tokens == []
    assert config.evaluate.gate.compare_to == "production"
    assert config.monitor.window.time == "1h"
    assert config.monitor.window.duration == timedelta(hours=1)
    assert config.data.splits.train == 0.8
    assert config.root == tmp_path / "proj"
    assert config.file == tmp_path / "proj" / "shipyard.yaml"


def test_default_locations_are_under_the_state_folder(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "# nothing but a comment\n"))
    assert config.metadata_url() == f"sqlite:///{tmp_path / '.shipyard' / 'metadata.db'}"
    assert config.artifacts_location() == str(tmp_path / ".shipyard" / "artifacts")
    assert config.prediction_log_location() == str(tmp_path / ".shipyard" / "predictions")


def test_empty_sections_take_their_defaults(tmp_path: Path) -> None:
    text = "serve:\nproject:\ntune:\n  space:\n  trials:\ndata:\n  target:\n"
    config = load_config(write(tmp_path, text))
    assert config.serve.port == 8080 and config.tune.trials == 20
    assert config.data.target is None
    assert config.project.name == tmp_path.name
    assert config.tune.space == {}


def test_project_name_is_derived_from_a_folder_name_it_cleans(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "my flights (v2)", "seed: 1\n"))
    assert config.project.name == "my-flights-v2-"


def test_register_field_is_the_section(tmp_path: Path) -> None:
    # The field "register" shadows ABCMeta.register on the class only.
    config = load_config(write(tmp_path, "register: {alias: production}\n"))
    assert isinstance(config.register, RegisterConfig)
    assert config.register.alias == "production"


def test_the_threshold_rule_is_checked_where_it_is_written(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "evaluate:\n  threshold: 'precision>=0.9'\n"))
    assert config.evaluate.threshold == "precision>=0.9"
    assert load_config(write(tmp_path, "evaluate: {threshold: 0.3}\n")).evaluate.threshold == 0.3
    err = error_of(write(tmp_path, "evaluate:\n  threshold: presicion>=0.9\n"))
    assert err.field == "evaluate.threshold" and err.line == 2
    assert "precision" in str(err)


def test_importing_the_module_warns_nothing() -> None:
    code = "import shipyard.config"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_sections_forbid_unknown_keys_in_code() -> None:
    with pytest.raises(ValidationError):
        ShipyardConfig(serve={"prot": 1})  # type: ignore[arg-type]


# -- path resolution ----------------------------------------------------------------------


def test_relative_paths_resolve_against_the_file_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    path = write(
        project,
        """
pipeline: flows/pipeline.py:demo
store:
  url: sqlite:///state/meta.db?timeout=5
  artifacts: ../shared/artifacts
data:
  source: {kind: parquet, path: "data/*.parquet"}
train:
  algorithm: function
  function: train.py:fit
serve:
  log: {path: logs/predictions}
""",
    )
    monkeypatch.chdir(tmp_path)  # the current directory must not matter
    config = load_config(path)
    assert config.pipeline == f"{project / 'flows' / 'pipeline.py'}:demo"
    assert config.store.url == f"sqlite:///{project / 'state' / 'meta.db'}?timeout=5"
    assert config.store.artifacts == str(tmp_path / "shared" / "artifacts")
    assert config.data.source is not None
    assert config.data.source.path == str(project / "data" / "*.parquet")
    assert config.train.function == f"{project / 'train.py'}:fit"
    assert config.serve.log.path == str(project / "logs" / "predictions")
    assert config.prediction_log_location() == config.serve.log.path


def test_urls_absolute_paths_and_modules_are_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
pipeline: mypkg.flows:demo
store:
  url: "sqlite:////var/lib/meta.db"
  artifacts: s3://bucket/artifacts
data:
  source: {kind: sql, url: "postgresql://db.internal/flights", table: flights}
""",
    )
    config = load_config(path)
    assert config.pipeline == "mypkg.flows:demo"
    assert config.store.url == "sqlite:////var/lib/meta.db"
    assert config.store.artifacts == "s3://bucket/artifacts"
    assert config.data.source is not None
    assert config.data.source.url == "postgresql://db.internal/flights"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_kept(tmp_path: Path, url: str) -> None:
    assert load_config(write(tmp_path, f'store: {{url: "{url}"}}\n')).store.url == url


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(write(tmp_path / "p", "store: {artifacts: ~/artifacts}\n"))
    assert config.store.artifacts == str(tmp_path / "home" / "artifacts")


def test_from_dict_resolves_against_base_dir_or_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = {"store": {"artifacts": "arts"}}
    assert ShipyardConfig.from_dict(data, base_dir=tmp_path).store.artifacts == str(
        tmp_path / "arts"
    )
    assert ShipyardConfig.from_dict(None, base_dir=tmp_path / "named").project.name == "named"
    monkeypatch.chdir(tmp_path)
    built = ShipyardConfig.from_dict(data)
    assert built.store.artifacts == str(tmp_path / "arts")
    assert built.root == tmp_path


def test_from_dict_raises_config_error_without_a_file() -> None:
    with pytest.raises(ConfigError) as info:
        ShipyardConfig.from_dict({"serve": {"port": 0}})
    assert info.value.file is None and info.value.line is None
    assert info.value.field == "serve.port"


# -- ${VAR} interpolation and masking ----------------------------------------------------


def test_env_values_are_interpolated_when_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        """
project: {name: "${PROJECT_NAME}", description: "cost $5, literal $${KEEP}"}
serve:
  port: ${PORT}
  host: ${HOST:-0.0.0.0}
  workers: ${WORKERS:-3}
register: {alias: "${EMPTY:-staging}"}
""",
    )
    monkeypatch.setenv("PROJECT_NAME", "flights")
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("EMPTY", "")
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("WORKERS", raising=False)
    config = load_config(path)
    assert config.project.name == "flights"
    assert config.project.description == "cost $5, literal ${KEEP}"
    assert config.serve.port == 9001
    assert config.serve.host == "0.0.0.0"
    assert config.serve.workers == 3
    assert config.register.alias == "staging"


def test_env_is_read_at_load_time_not_import_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "project: {name: '${LATE_NAME}'}\n")
    monkeypatch.setenv("LATE_NAME", "first")
    assert load_config(path).project.name == "first"
    monkeypatch.setenv("LATE_NAME", "second")
    assert load_config(path).project.name == "second"


def test_env_secrets_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        """
store:
  url: postgresql://shipyard:${DB_PASSWORD}@db.internal/meta
data:
  source:
    kind: sql
    url: ${SOURCE_URL}
    query: SELECT 1
    options: {api_key: literal-key-1234, delimiter: ","}
serve:
  port: ${PORT}
  auth:
    enabled: true
    tokens:
      - {token: "${TOKEN}", scopes: [inference, admin]}
""",
    )
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    monkeypatch.setenv("SOURCE_URL", "mysql://reader:other-Passw0rd@db/flights")
    monkeypatch.setenv("PORT", "81")
    monkeypatch.setenv("TOKEN", TOKEN)
    config = load_config(path)
    assert config.store.url == f"postgresql://shipyard:{SECRET}@db.internal/meta"
    assert config.serve.auth.tokens[0].token.get_secret_value() == TOKEN

    dumped = config.masked_dump()
    text = json.dumps(dumped)  # JSON-able
    for secret in (SECRET, TOKEN, "other-Passw0rd", "literal-key-1234"):
        assert secret not in text
    assert dumped["store"]["url"] == "postgresql://shipyard:***@db.internal/meta"
    assert dumped["data"]["source"]["url"] == "***"
    assert dumped["data"]["source"]["options"] == {"api_key": "***", "delimiter": ","}
    assert dumped["serve"]["port"] == "***"  # a short secret: the whole field
    assert dumped["serve"]["auth"]["tokens"][0] == {
        "token": "***",
        "name": None,
        "scopes": ["inference", "admin"],
    }
    assert config.mask(f"login {SECRET} with {TOKEN}") == "login *** with ***"
    assert config.mask("port 81 stays") == "port 81 stays"
    for shown in (repr(config), str(config)):
        assert SECRET not in shown and TOKEN not in shown


def test_masked_dump_hides_literal_url_passwords_and_tokens(tmp_path: Path) -> None:
    config = ShipyardConfig.from_dict(
        {
            "store": {"url": "postgresql://u:pa55word@h/db"},
            "serve": {"auth": {"enabled": True, "tokens": [{"token": TOKEN}]}},
        },
        base_dir=tmp_path,
    )
    text = json.dumps(config.masked_dump())
    assert "pa55word" not in text and TOKEN not in text
    assert config.mask(f"dsn postgresql://u:pa55word@h/db token {TOKEN}") == (
        "dsn postgresql://u:***@h/db token ***"
    )


def test_unset_variable_is_an_error_with_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    path = write(tmp_path, "seed: 1\nstore:\n  artifacts: /data\n  url: ${NO_SUCH_VAR}\n")
    error = error_of(path)
    assert (error.file, error.line, error.field) == (str(path), 4, "store.url")
    assert "NO_SUCH_VAR" in str(error) and "not set" in str(error)
    assert str(error).startswith(f"{path}:4: field 'store.url':")


def test_every_unset_variable_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("A_UNSET", raising=False)
    monkeypatch.delenv("B_UNSET", raising=False)
    path = write(tmp_path, "serve:\n  host: ${A_UNSET}\n  traffic:\n    - ref: ${B_UNSET}\n")
    message = str(error_of(path))
    assert f"{path}:2: field 'serve.host'" in message and "'A_UNSET'" in message
    assert f"{path}:4: field 'serve.traffic[0].ref'" in message and "'B_UNSET'" in message


@pytest.mark.parametrize("text", ["${unclosed", "${BAD-NAME}", "${}"])
def test_malformed_reference_is_an_error(tmp_path: Path, text: str) -> None:
    error = error_of(write(tmp_path, f"project:\n  description: '{text}'\n"))
    assert error.line == 2 and error.field == "project.description"


def test_secret_never_appears_in_validation_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "serve:\n  port: ${PORT}\nregister:\n  alias: ${ALIAS}\nexecutor:\n  kind: ${KIND}\n",
    )
    monkeypatch.setenv("PORT", "not-a-port-" + SECRET)
    monkeypatch.setenv("ALIAS", "bad alias " + SECRET)
    monkeypatch.setenv("KIND", "x y")  # short: masked where it is shown as the value
    message = str(error_of(path))
    assert message.count("\n") == 3  # three problems, one line each
    assert SECRET not in message and "x y" not in message
    assert "field 'serve.port'" in message and "field 'register.alias'" in message


def test_short_secret_is_hidden_in_its_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIAS", "a b")
    message = str(error_of(write(tmp_path, "register: {alias: '${ALIAS}'}\n")))
    assert "'a b'" not in message and "***" in message


# -- errors: YAML, unknown keys, types, cross-field checks -----------------------------------


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "serve:\n  port: 8080\n  host: [unclosed\nseed: 1\n"))
    assert error.line is not None and error.line >= 3
    assert "invalid YAML" in str(error)


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "serve:\n  port: 8080\n  port: 9090\n"))
    assert (error.line, error.field) == (3, "serve.port")
    assert "duplicate key 'port'" in str(error)


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("just text\n", "str")])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    error = error_of(write(tmp_path, text))
    assert "top level must be a mapping" in str(error) and f"got a {kind}" in str(error)


def test_unsafe_tags_are_refused(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "seed: !!python/object/apply:os.system ['true']\n"))
    assert error.line == 1 and "invalid YAML" in str(error)


def test_alias_bombs_are_refused(tmp_path: Path) -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        text += f"{level}: &{level} [{', '.join(['*' + previous] * 10)}]\n"
    assert "aliases" in str(error_of(write(tmp_path, text)))


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    assert "no such file" in str(error_of(tmp_path / "absent.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"seed: \xff\xfe\n")
    assert "cannot read" in str(error_of(bad))


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    # Unknown top-level keys are errors, so anchors live inside a section.
    text = """
monitor:
  probes:
    directional:
      - &later {column: dep_delay, delta: 30, expect: increase}
      - {<<: *later, delta: 60, name: much-later}
"""
    config = load_config(write(tmp_path, text))
    probes = config.monitor.probes.directional
    assert [p.delta for p in probes] == [30, 60]
    assert probes[1].column == "dep_delay" and probes[1].name == "much-later"


def test_unknown_key_suggests_the_closest_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "serve:\n  host: 127.0.0.1\n  prot: 9000\n")
    error = error_of(path)
    assert (error.line, error.field) == (3, "serve.prot")
    assert "unknown key 'prot'; did you mean 'port'?" in str(error)


def test_unknown_section_and_nested_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "servee:\n  port: 1\ntune:\n  space:\n    lr: {type: float, lo: 0.1, high: 1}\n"
        "monitor:\n  zzz: 1\n",
    )
    message = str(error_of(path))
    assert f"{path}:1: field 'servee': unknown key 'servee'; did you mean 'serve'?" in message
    assert f"{path}:5: field 'tune.space.lr.lo': unknown key 'lo'; did you mean 'low'?" in message
    assert "unknown key 'zzz'; valid keys: " in message and "alerts" in message


def test_wrong_type_names_line_field_value_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 3\nexecutor:\n  workers: many\n")
    error = error_of(path)
    assert (error.line, error.field) == (3, "executor.workers")
    assert "expected a valid integer" in str(error) and "got 'many'" in str(error)


def test_section_of_wrong_type(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "serve: 8080\n"))
    assert (error.line, error.field) == (1, "serve")
    assert "expected a mapping" in str(error) and "got 8080" in str(error)


def test_literal_typo_gets_a_suggestion(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "executor:\n  kind: lcoal\n"))
    assert "expected 'local', 'inline' or 'ray'; got 'lcoal'; did you mean 'local'?" in str(error)


def test_missing_required_field_points_at_its_parent(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "serve:\n  traffic:\n    - weight: 2\n"))
    assert (error.line, error.field) == (3, "serve.traffic[0].ref")
    assert "required" in str(error)


@pytest.mark.parametrize("port", [0, 70000, -1])
def test_invalid_port(tmp_path: Path, port: int) -> None:
    error = error_of(write(tmp_path, f"serve:\n  host: localhost\n  port: {port}\n"))
    assert (error.line, error.field) == (3, "serve.port")
    assert f"got {port}" in str(error)


def test_multiple_errors_are_all_reported_one_per_line(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: -1\nserve:\n  port: 0\n  workers: 0\n")
    error = error_of(path)
    lines = str(error).splitlines()
    assert lines[0] == f"{path}: 3 errors:"
    assert [line.split(": field")[0].strip() for line in lines[1:]] == [
        f"{path}:1",
        f"{path}:3",
        f"{path}:4",
    ]


def test_splits_must_sum_to_one(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  splits:\n    train: 0.7\n    eval: 0.2\n    test: 0.2\n")
    error = error_of(path)
    assert (error.line, error.field) == (2, "data.splits")
    assert "must sum to 1" in str(error) and "train=0.7" in str(error) and "1.1" in str(error)


def test_splits_by_time_need_a_time_column(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "data:\n  splits: {method: time}\n"))
    assert error.field == "data.splits.method" and "time_column" in str(error)
    config = load_config(
        write(
            tmp_path,
            "data:\n  splits:\n    method: time\n    time_column: ts\n"
            "    cutoffs: [2013-10-01, 2013-11-15]\n",
        )
    )
    assert config.data.splits.cutoffs == [datetime(2013, 10, 1), datetime(2013, 11, 15)]


def test_tune_range_inverted(tmp_path: Path) -> None:
    path = write(
        tmp_path, "tune:\n  space:\n    depth:\n      type: int\n      low: 10\n      high: 2\n"
    )
    error = error_of(path)
    assert (error.line, error.field) == (5, "tune.space.depth.low")
    assert "low=10 must be less than high=2" in str(error)


@pytest.mark.parametrize("low", [0, -0.5])
def test_tune_log_range_must_exclude_zero(tmp_path: Path, low: float) -> None:
    path = write(
        tmp_path, f"tune:\n  space:\n    lr: {{type: float, low: {low}, high: 1, log: true}}\n"
    )
    error = error_of(path)
    assert error.field == "tune.space.lr.low" and error.line == 3
    assert "log=true needs a range above 0" in str(error)


def test_tune_space_other_checks(tmp_path: Path) -> None:
    cases = {
        "{type: categorical}": "needs choices",
        "{type: categorical, choices: [a], low: 1}": "low needs type 'int' or 'float'",
        "{type: int, low: 1.5, high: 4}": "whole number",
        "{type: float, low: 1}": "needs low and high",
        "{type: float, low: 0, high: 1, condition: 'nope == 1'}": "not another param",
        "{type: float, low: 0, high: 1, condition: 'gibberish'}": "is not 'param == value'",
    }
    for spec, expected in cases.items():
        assert expected in str(error_of(write(tmp_path, f"tune:\n  space:\n    p: {spec}\n")))


def test_tune_example_space_is_valid(tmp_path: Path) -> None:
    text = """
tune:
  space:
    booster: {type: categorical, choices: [gbtree, dart]}
    rate_drop: {type: float, low: 0.0, high: 0.3, condition: "booster == 'dart'"}
    depth: {type: int, low: 3, high: 10, step: 1}
"""
    space = load_config(write(tmp_path, text)).tune.space
    assert space["depth"].low == 3 and isinstance(space["depth"].low, int)
    assert space["rate_drop"].condition == "booster == 'dart'"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("register: {alias: 'not valid'}", "register.alias"),
        ("register: {model_name: '../etc'}", "register.model_name"),
        ("evaluate: {gate: {compare_to: 'prod/x'}}", "evaluate.gate.compare_to"),
        ("serve: {traffic: [{ref: 'm@bad alias'}]}", "serve.traffic[0].ref"),
        ("serve: {traffic: [{ref: 'run:abcdef'}]}", "serve.traffic[0].ref"),
        ("serve: {shadow: ['m:0']}", "serve.shadow[0]"),
        ("monitor: {model: 'artifact:abcd'}", "monitor.model"),
        ("project: {name: '-x'}", "project.name"),
    ],
)
def test_bad_names_and_refs(tmp_path: Path, text: str, field: str) -> None:
    error = error_of(write(tmp_path, text + "\n"))
    assert error.field == field and error.line == 1


def test_good_refs_are_normalised(tmp_path: Path) -> None:
    text = "serve:\n  traffic: [{ref: ' flights@production '}, {ref: 'flights:3', weight: 0}]\n"
    traffic = load_config(write(tmp_path, text)).serve.traffic
    assert [t.ref for t in traffic] == ["flights@production", "flights:3"]


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("executor: {kind: local, ray_address: auto}", "executor.ray_address", "kind 'ray'"),
        ("executor: {kind: inline, workers: 4}", "executor.workers", "kind is 'inline'"),
        (
            "data: {source: {kind: sql, url: 'sqlite:///x.db', table: t, query: q}}",
            "data.source.query",
            "not both",
        ),
        ("data: {source: {kind: csv}}", "data.source.path", "needs a path"),
        ("data: {target_expr: 'a > 1'}", "data.target_expr", "needs target"),
        ("data: {target: y, key: y}", "data.key", "also target"),
        ("train: {algorithm: function}", "train.function", "needs function"),
        ("train: {estimator: 'sklearn.linear_model:Ridge', algorithm: xgboost}", "train.estimator", "algorithm is 'xgboost'"),
        ("evaluate: {metrics: [auc], gate: {thresholds: {f1: {min: 0.5}}}}", "evaluate.gate.thresholds.f1", "not in metrics"),
        ("evaluate: {gate: {thresholds: {f1: {min: 0.9, max: 0.5}}}}", "evaluate.gate.thresholds.f1.min", "above max"),
        ("serve: {auth: {enabled: true}}", "serve.auth.tokens", "at least one token"),
        ("serve: {max_wait_ms: 50, limits: {timeout_ms: 20}}", "serve.max_wait_ms", "limits.timeout_ms=20"),
        ("serve: {traffic: [{ref: a@b}], shadow: [a@b]}", "serve.shadow[0]", "in traffic and in shadow"),
        ("monitor: {window: {time: 1h, rows: 100}}", "monitor.window.rows", "not both"),
        ("monitor: {window: {time: hourly}}", "monitor.window.time", "not a duration"),
        ("monitor: {schedule: 'every day'}", "monitor.schedule", "cron"),
        ("monitor: {alerts: [{metric: psi, threshold: 1, action: webhook}]}", "monitor.alerts[0].action", "needs a url"),
        ("monitor: {alerts: [{metric: psi, threshold: 1, url: 'https://x'}]}", "monitor.alerts[0].url", "needs action 'webhook'"),
        ("monitor: {alerts: [{metric: psi, threshold: 1, action: webhook, url: 'file:///etc/passwd'}]}", "monitor.alerts[0].url", "http://"),
        ("monitor: {alerts: [{metric: psi, threshold: 1, action: webhook, url: 'http://169.254.169.254/'}]}", "monitor.alerts[0].url", "link-local"),
        ("monitor: {alerts: [{metric: psi, threshold: 1, action: webhook, url: 'http://localhost:8080/'}]}", "monitor.alerts[0].url", "the server itself"),
        ("monitor: {probes: {fixed: [{input: {a: 1}}]}}", "monitor.probes.fixed[0]", "expect, min or max"),
        ("features: {columns: [{name: a}, {name: a}]}", "features.columns[1].name", "listed twice"),
        ("features: {columns: [{name: a}], exclude: [a]}", "features.columns[0].name", "also in exclude"),
        ("features: {columns: [{name: a}, {name: b}], crosses: [{columns: [a, c]}]}", "features.crosses[0].columns", "'c' is not in columns"),
        ("data: {target: late}\nfeatures: {columns: [{name: x}, {name: late}]}", "features.columns[1].name", "data.target='late'"),
    ],
)  # fmt: skip
def test_cross_field_checks_name_both_values(
    tmp_path: Path, text: str, field: str, expected: str
) -> None:
    error = error_of(write(tmp_path, text + "\n"))
    assert error.field == field, str(error)
    assert expected in str(error)


def test_link_local_webhook_can_be_allowed(tmp_path: Path) -> None:
    text = (
        "monitor:\n  allow_link_local_webhooks: true\n  alerts:\n"
        "    - {metric: psi, threshold: 1, action: webhook, url: 'http://169.254.1.1/hook'}\n"
    )
    assert load_config(write(tmp_path, text)).monitor.alerts[0].url == "http://169.254.1.1/hook"


def test_short_token_error_does_not_echo_it(tmp_path: Path) -> None:
    text = "serve:\n  auth:\n    enabled: true\n    tokens: [{token: shorty}]\n"
    error = error_of(write(tmp_path, text))
    assert error.field == "serve.auth.tokens[0].token" and "16 characters" in str(error)
    assert "shorty" not in str(error)


def test_transform_params_and_durations(tmp_path: Path) -> None:
    text = (
        "features:\n  columns:\n    - name: x\n      transforms: [{op: clip, lower: 0, upper: 9}]\n"
    )
    transform = load_config(write(tmp_path, text)).features.columns[0].transforms[0]
    assert transform.op == "clip" and transform.params == {"lower": 0, "upper": 9}
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("500ms") == timedelta(milliseconds=500)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    window = load_config(write(tmp_path, "monitor: {window: {rows: 500}}\n")).monitor.window
    assert window.time is None and window.duration is None and window.rows == 500


def test_config_error_is_a_value_error(tmp_path: Path) -> None:
    assert isinstance(error_of(write(tmp_path, "seed: x\n")), ValueError)


# -- project root ---------------------------------------------------------------------------


def test_root_is_the_nearest_folder_with_shipyard_yaml(tmp_path: Path) -> None:
    write(tmp_path / "proj", "project: {name: flights}\n")
    deep = tmp_path / "proj" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_project_root(deep) == tmp_path / "proj"
    root, config = load_project(deep)
    assert root == tmp_path / "proj" and config.project.name == "flights"


def test_state_folder_marks_a_root_too(tmp_path: Path) -> None:
    write(tmp_path, "project: {name: outer}\n")
    (tmp_path / "inner" / ".shipyard").mkdir(parents=True)
    (tmp_path / "inner" / "notebooks").mkdir()
    assert find_project_root(tmp_path / "inner" / "notebooks") == tmp_path / "inner"
    root, config = load_project(tmp_path / "inner" / "notebooks")
    assert root == tmp_path / "inner"
    assert config.project.name == "inner" and config.root == root


def test_root_falls_back_to_the_start_and_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = tmp_path / "nothing" / "here"
    start.mkdir(parents=True)
    if find_project_root(tmp_path) != tmp_path:
        pytest.skip("a folder above tmp_path is itself marked as a project")
    assert find_project_root(start) == start
    monkeypatch.chdir(start)
    assert find_project_root() == start
    file = start / "notes.txt"
    file.write_text("x")
    assert find_project_root(file) == start
    root, config = load_project()
    assert root == start and config.project.name == "here"
    assert config.metadata_url() == f"sqlite:///{start / '.shipyard' / 'metadata.db'}"


def test_a_misnamed_yml_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "seed: 1\n", name="shipyard.yml")
    (tmp_path / ".shipyard").mkdir()
    with pytest.raises(ConfigError, match="rename"):
        load_project(tmp_path)


# -- the example, the schema and the docs -----------------------------------------------------


def test_example_file_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_TOKEN", TOKEN)
    monkeypatch.setenv("SHIPYARD_ADMIN_TOKEN", TOKEN[::-1])
    monkeypatch.delenv("SHIPYARD_DB_URL", raising=False)
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    config = load_config(DOCS / "shipyard.example.yaml")
    assert config.project.name == "flights"
    assert config.store.url == f"sqlite:///{DOCS / '.shipyard' / 'metadata.db'}"
    source = config.data.source
    assert source is not None and source.kind == "duckdb" and source.query is not None
    for table in ("flights", "weather", "planes"):
        assert f"read_parquet('data/{table}.parquet')" in source.query
    assert (config.data.target, config.data.target_expr) == ("late", "arr_delay > 15")
    assert config.data.splits.method == "time"
    assert "arr_delay" in config.features.exclude
    assert config.train.algorithm == "xgboost"
    assert config.train.params["monotone_constraints"] == {"dep_delay": 1}
    assert config.tune.space["learning_rate"].log is True
    assert config.evaluate.gate.thresholds["roc_auc"].min == 0.70
    assert config.register.alias == "production"
    assert [t.ref for t in config.serve.traffic] == [
        "flights-delay@production",
        "flights-delay@canary",
    ]
    assert config.serve.auth.tokens[0].token.get_secret_value() == TOKEN
    assert [a.action for a in config.monitor.alerts] == ["log", "retrain", "webhook"]
    assert config.monitor.probes.directional[0].column == "dep_delay"
    assert len(config.monitor.probes.fixed) == 2
    assert TOKEN not in json.dumps(config.masked_dump())


def test_example_file_needs_its_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_TOKEN", raising=False)
    monkeypatch.delenv("SHIPYARD_ADMIN_TOKEN", raising=False)
    message = str(error_of(DOCS / "shipyard.example.yaml"))
    assert "SHIPYARD_TOKEN" in message and "SHIPYARD_ADMIN_TOKEN" in message


def test_checked_in_schema_is_up_to_date() -> None:
    expected = json.dumps(export_json_schema(), indent=2) + "\n"
    actual = (DOCS / "shipyard.schema.json").read_text(encoding="utf-8")
    assert actual == expected, (
        "docs/shipyard.schema.json is out of date; regenerate it with:\n"
        "  python -m shipyard.config > docs/shipyard.schema.json"
    )


def test_module_main_prints_the_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shipyard.config"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == export_json_schema()


def _sections(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> dict[str, Any]:
    seen[model.__name__] = model
    for field in model.model_fields.values():
        for inner in _models_in(field.annotation):
            if inner.__name__ not in seen:
                _sections(inner, seen)
    return seen


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def test_docs_list_every_field_of_every_section() -> None:
    docs = (DOCS / "config.md").read_text(encoding="utf-8")
    missing = [
        f"{name}.{field}"
        for name, model in _sections(ShipyardConfig, {}).items()
        for field, info in model.model_fields.items()
        if f"| `{info.alias or field}` |" not in docs
    ]
    assert not missing, f"docs/config.md has no table row for {missing}"


def test_every_section_is_public() -> None:
    for name in _sections(ShipyardConfig, {}):
        assert name in config_module.__all__, name
