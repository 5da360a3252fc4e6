"""``shipyard monitor probe`` against a real ``shipyard serve --bundle`` subprocess.

The command's answers must be the ones :func:`run_probes` gives in process with
the same bundle: the endpoint and the gate run the same probes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from shipyard.cli._monitor_probe import probe_command
from shipyard.config import ProbesConfig
from shipyard.errors import ConfigError, EndpointError
from shipyard.monitor.probes import run_probes

from ..serve.conftest import start_server, stop_server
from .test_probes import FEATURES, make_rows, train

TOKEN = "probe-token-0123456789abcdef"

PROBES = """\
project:
  name: watching
register:
  model_name: toy
monitor:
  probes:
    rows: 100
    directional:
      - {name: a_up, column: a, delta: 2, expect: increase}
    invariance:
      - {name: u_unused, column: u, values: [0, 5]}
    fixed:
      - {name: far_right, input: {a: 9.8, b: 2.0}, min: 0.8}
"""


@dataclass
class Served:
    url: str
    bundle: Path
    secured: str  # a server of the same bundle that wants a token
    root: Path  # the project the bundle was registered in


def _register(root: Path, name: str, constraint: int) -> Path:
    import shipyard
    from shipyard.bundle import copy_bundle
    from shipyard.pipeline.project import Project

    project = Project.discover(root)
    try:
        version = shipyard.register_model(
            train(constraint),
            name=name,
            signature=FEATURES,
            example=make_rows(3, 0).select(FEATURES).to_pylist(),
            alias="production",
            project=project,
        )
        folder = Path(project.artifacts.path(version.artifact))
    finally:
        project.close()
    return copy_bundle(folder, root.parent / f"{name}-bundle")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("probed")
    (root / "shipyard.yaml").write_text("project:\n  name: probed\n")
    bundle = _register(root, "toy", 0)  # no constraint: the directional probe fails
    secured = tmp_path_factory.mktemp("secured")
    (secured / "shipyard.yaml").write_text(
        "project:\n  name: secured\nserve:\n  auth:\n    enabled: true\n"
        f"    tokens:\n      - token: {TOKEN}\n"
    )
    url, proc = start_server(["--bundle", str(bundle)], root, root.parent / "probed.log")
    try:
        safe, proc2 = start_server(["--bundle", str(bundle)], secured, secured / "server.log")
        try:
            yield Served(url, bundle, safe, root)
        finally:
            stop_server(proc2)
    finally:
        stop_server(proc)


def _cli(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    app.command()(probe_command)
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture
def watching(project_dir: Path) -> Path:
    (project_dir / "shipyard.yaml").write_text(PROBES)
    pq.write_table(make_rows(300, 11), project_dir / "rows.parquet")
    return project_dir


def test_probe_a_live_endpoint_prints_the_failed_probe_and_exits_1(
    served: Served, watching: Path
) -> None:
    code, out = _cli("toy@production", "--url", served.url, "--rows", "rows.parquet")
    assert code == 1, out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert "no" in lines["a_up"] and "directional" in lines["a_up"]
    assert "yes" in lines["u_unused"] and "0/100" in lines["u_unused"]
    assert "yes" in lines["far_right"]
    assert "probe 'a_up' failed" in out and "1 of 3 probes failed" in out
    # The same through the installed command: exit code 1 for a failed probe.
    from ..conftest import cli

    run = cli("monitor", "probe", "--url", served.url, "--rows", "rows.parquet", cwd=watching)
    assert run.returncode == 1, run.stderr
    assert "a_up" in run.stdout and "1 of 3 probes failed" in run.stdout


def test_the_endpoint_gives_the_same_answers_as_the_bundle_in_process(
    served: Served, watching: Path
) -> None:
    from shipyard.bundle import load_bundle

    code, out = _cli("toy@production", "--url", served.url, "--rows", "rows.parquet", "--json")
    assert code == 1
    live = json.loads(out)
    assert live["rows"] == 100 and live["passed"] is False and live["rows_from"] == "rows.parquet"
    bundle = load_bundle(served.bundle)
    config = ProbesConfig.model_validate(
        {
            "rows": 100,
            "directional": [{"name": "a_up", "column": "a", "delta": 2, "expect": "increase"}],
            "invariance": [{"name": "u_unused", "column": "u", "values": [0, 5]}],
            "fixed": [{"name": "far_right", "input": {"a": 9.8, "b": 2.0}, "min": 0.8}],
        }
    )
    rows = pq.read_table(watching / "rows.parquet")
    local = run_probes(config, bundle.predict, rows, task="binary").to_dict()
    for got, want in zip(live["results"], local["results"], strict=True):
        assert (got["name"], got["passed"], got["failures"]) == (
            want["name"],
            want["passed"],
            want["failures"],
        )
        if want["worst"] and want["worst"]["row"] is not None:
            assert got["worst"]["row"] == want["worst"]["row"]
            assert got["worst"]["after"] == pytest.approx(want["worst"]["after"], rel=1e-6)


def test_a_passing_endpoint_exits_0_and_a_token_is_read_from_the_environment(
    served: Served, watching: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passing = PROBES.replace(
        "    directional:\n      - {name: a_up, column: a, delta: 2, expect: increase}\n", ""
    )
    (watching / "shipyard.yaml").write_text(passing)
    code, out = _cli("toy@production", "--url", served.url, "--rows", "rows.parquet")
    assert code == 0, out
    assert "all 2 probes passed" in out
    with pytest.raises(EndpointError, match=r"/v2/models/toy answered 401"):
        _cli("toy@production", "--url", served.secured, "--rows", "rows.parquet")
    monkeypatch.setenv("PROBE_TOKEN", TOKEN)
    code, out = _cli(
        "toy@production",
        "--url",
        served.secured,
        "--rows",
        "rows.parquet",
        "--token-env",
        "PROBE_TOKEN",
    )
    assert code == 0, out


def test_no_probes_configured_or_no_server_are_named_errors(
    served: Served, project_dir: Path
) -> None:
    with pytest.raises(ConfigError, match=r"monitor\.probes.*no probes to run"):
        _cli("toy@production", "--url", served.url)
    (project_dir / "shipyard.yaml").write_text(PROBES)
    port_closed = "http://127.0.0.1:9"
    with pytest.raises(EndpointError, match="cannot reach http://127.0.0.1:9/v2/models/toy"):
        _cli("toy@production", "--url", port_closed)


def test_rows_default_to_the_registered_models_input_example(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The served bundle came from this registry: without --rows, its input example is used.
    root = served.root
    (root / "shipyard.yaml").write_text(PROBES.replace("name: watching", "name: probed"))
    monkeypatch.chdir(root)
    code, out = _cli("toy@production", "--url", served.url, "--json")
    result = json.loads(out)
    assert result["rows"] == 3 and result["rows_from"] == "the input example of toy@production"
    assert code == (0 if result["passed"] else 1)
    assert [r["checked"] for r in result["results"]][1:] == [3, 1]


def test_rows_are_sent_with_only_the_models_inputs(served: Served, watching: Path) -> None:
    # rows.parquet also holds id and y, which the server would refuse as unknown features.
    rows = pq.read_table(watching / "rows.parquet")
    assert {"id", "y"} <= set(rows.column_names)
    assert pa.types.is_string(rows.schema.field("id").type)
    code, _ = _cli("toy@production", "--url", served.url, "--rows", "rows.parquet")
    assert code == 1  # answered (the directional probe fails), not refused
    import pyarrow.csv as pacsv

    pacsv.write_csv(rows, watching / "rows.csv")
    code, out = _cli("toy@production", "--url", served.url, "--rows", "rows.csv", "--json")
    assert code == 1 and json.loads(out)["rows_from"] == "rows.csv"
    (watching / "rows.xlsx").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"--rows rows.xlsx: expected a .csv"):
        _cli("toy@production", "--url", served.url, "--rows", "rows.xlsx")
