"""``shipyard monitor probe``: the behavioural tests of ``monitor.probes`` against a live server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ConfigError
from ._format import console, echo_json

if TYPE_CHECKING:
    import pyarrow as pa

    from ..monitor.probes import ProbeReport

__all__ = ["probe_command"]


def probe_command(
    ref: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME@ALIAS]",
            help="The served model; default: monitor.model, else <register.model_name>@production.",
        ),
    ] = None,
    url: Annotated[
        str, typer.Option("--url", metavar="URL", help="The server's base URL.")
    ] = "http://127.0.0.1:8080",
    rows: Annotated[
        Path | None,
        typer.Option(
            "--rows",
            metavar="FILE",
            help="CSV or Parquet rows to probe with; default: the model's eval split or input example.",
        ),
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option("--token-env", metavar="VAR", help="Variable holding a bearer token."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Run the probes of monitor.probes against a live server; exit 1 when one fails."""
    from ..config import load_project
    from ..monitor.probes import endpoint_predictor, run_probes
    from ..refs import parse_ref

    root, config = load_project()
    probes = config.monitor.probes
    if not (probes.invariance or probes.directional or probes.fixed):
        raise ConfigError(
            "no probes to run: add invariance, directional or fixed probes",
            file=str(root / "shipyard.yaml"),
            field="monitor.probes",
        )
    text = ref or config.monitor.model
    if text is None:
        if not config.register.model_name:
            raise ConfigError("name the model: NAME@ALIAS (register.model_name is not set)")
        text = f"{config.register.model_name}@production"
    name = parse_ref(text).name
    token = None
    if token_env is not None:
        token = os.environ.get(token_env)
        if not token:
            raise ConfigError(f"--token-env {token_env}: the variable is not set or empty")
    predict, task, required = endpoint_predictor(url, name, token=token)
    table, key, source = _rows(rows, text, config.data.key)
    table, dropped = _complete(table, required)
    if dropped:
        source += f", less {dropped} with a null the model refuses"
    if table.num_rows == 0:
        raise ConfigError(f"no rows to probe with: {source} has none")
    report = run_probes(probes, predict, table, task=task, key=key)
    if json_out:
        echo_json({"model": text, "url": url, "rows_from": source, **report.to_dict()})
    else:
        _print(report, text, url, source)
    if not report.passed:
        raise typer.Exit(1)


def _rows(path: Path | None, ref: str, key: str | None) -> tuple[pa.Table, str | None, str]:
    """The rows to probe with, the key column and where they came from."""
    import pyarrow as pa

    if path is not None:
        return _read(path), key, str(path)
    from ..errors import ShipyardError

    try:
        from ..bundle import load_bundle
        from ._models import version_bundle

        version, folder = version_bundle(ref)
        bundle = load_bundle(folder)
    except ShipyardError as exc:
        raise ConfigError(
            f"no rows to probe with: {ref} cannot be read from the registry ({exc});"
            " give --rows FILE (CSV or Parquet)"
        ) from None
    key = bundle.key or key
    eval_rows = _eval_split(version.run_id)
    if eval_rows is not None:
        return eval_rows, key, f"the eval split of run {version.run_id}"
    return pa.Table.from_pylist(bundle.input_example()), key, f"the input example of {ref}"


def _complete(table: pa.Table, required: list[str]) -> tuple[pa.Table, int]:
    """The rows with a value in every column the server refuses nulls in, and how many were not."""
    import pyarrow.compute as pc

    mask = None
    for name in required:
        if name in table.column_names:
            valid = pc.is_valid(table.column(name))
            mask = valid if mask is None else pc.and_(mask, valid)
    if mask is None:
        return table, 0
    kept = table.filter(mask)
    return kept, table.num_rows - kept.num_rows


def _eval_split(run_id: str | None) -> pa.Table | None:
    """The eval split of the run that trained the model, if it is still in the store."""
    from ..data.dataset import Dataset
    from ..errors import ShipyardError
    from ..pipeline.project import Project
    from ..pipeline.results import Run

    if not run_id:
        return None
    project = Project.discover()
    try:
        run = Run(project, run_id)
        for node in ("ingest_files", "ingest_query"):
            try:
                outputs: Any = run[node]
            except (ShipyardError, KeyError, LookupError):
                continue
            for value in outputs if isinstance(outputs, tuple) else (outputs,):
                if isinstance(value, Dataset) and "eval" in value.splits:
                    return value.to_table("eval")
    finally:
        project.close()
    return None


def _read(path: Path) -> pa.Table:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    lower = path.name.lower()
    if not path.is_file():
        raise ConfigError(f"--rows {path}: no such file")
    if lower.endswith((".parquet", ".pq")):
        return pq.read_table(path)
    if lower.endswith((".csv", ".csv.gz", ".tsv")):
        delimiter = "\t" if lower.endswith(".tsv") else ","
        return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    raise ConfigError(f"--rows {path}: expected a .csv, .csv.gz, .tsv, .parquet or .pq file")


def _print(report: ProbeReport, ref: str, url: str, source: str) -> None:
    from rich.table import Table

    table = Table()
    for column in ("probe", "kind", "passed", "failures", "worst case"):
        table.add_column(column, justify="right" if column == "failures" else "left")
    for r in report.results:
        passed = "[green]yes[/green]" if r.passed else "[red]no[/red]"
        table.add_row(r.name, r.kind, passed, f"{r.failures}/{r.checked}", r.worst_text())
    out = console()
    out.print(f"probes of {ref} at {url}: {report.rows} rows from {source}", markup=False)
    out.print(table)
    failed = report.failed
    if failed:
        for r in failed:
            out.print(r.message, markup=False)
        out.print(f"{len(failed)} of {len(report.results)} probes failed")
    else:
        out.print(f"all {len(report.results)} probes passed")
