"""``shipyard data``: statistics, schemas and validation of data outside a pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError
from ._format import console, echo_json, fmt_value

data_app = typer.Typer(
    help="Statistics, schemas and validation of data files.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
OptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--option", "-o", metavar="KEY=VALUE", help="Reader option (delimiter, ...); repeatable."
    ),
]


def _source(path: str, options: list[str] | None) -> dict[str, Any]:
    from .app import _parse_kv

    opts: dict[str, Any] = {}
    for k, v in _parse_kv(options or [], "--option").items():
        opts[k] = {"true": True, "false": False}.get(v.lower(), v)
    return {"path": path, "options": opts}


def _statistics(target: str, options: list[str] | None) -> Any:
    """Statistics of a file/glob (one split, ``all``), a Dataset or a Statistics artifact."""
    from ..validate.stats import DatasetStatistics, Statistics

    if target.startswith("artifact:"):
        import shipyard

        value = shipyard.load_artifact(target)
        if isinstance(value, Statistics):
            return value
        from ..data.dataset import Dataset

        if isinstance(value, Dataset):
            from ..validate.parallel import shard_statistics

            return Statistics(
                {split: shard_statistics(value.files(split)) for split in value.splits}
            )
        raise ConfigError(f"{target} is a {type(value).__name__}, not a Dataset or Statistics")
    from ..data.ingest import read_batches

    s = DatasetStatistics()
    for batch in read_batches(_source(target, options), root=Path.cwd()):
        s.update(batch)
    return Statistics({"all": s})


@data_app.command("stats")
def stats_cmd(
    target: Annotated[
        str,
        typer.Argument(
            metavar="PATH_OR_DATASET",
            help="A file, folder or glob, or artifact:DIGEST of a Dataset or Statistics.",
        ),
    ],
    html: Annotated[
        Path | None, typer.Option("--html", metavar="FILE", help="Also write the HTML report.")
    ] = None,
    option: OptionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Statistics of every column (per split for a Dataset), in one streaming pass."""
    stats = _statistics(target, option)
    if html is not None:
        from ..validate.report import write_report

        write_report(html, stats, title=target)
    if json_out:
        echo_json({split: s.summary() for split, s in stats.splits.items()})
        return
    from rich.table import Table

    out = console()
    for split, s in stats.splits.items():
        table = Table(
            title=f"{split}: {s.num_rows} rows", title_justify="left", header_style="bold"
        )
        cols = ["column", "type", "nulls", "min", "mean", "max", "std", "distinct", "top"]
        for c in cols:
            table.add_column(
                c,
                overflow="fold",
                justify="right"
                if c in ("nulls", "min", "mean", "max", "std", "distinct")
                else "left",
            )
        for row in s.summary():
            top = ", ".join(f"{v} ({n})" for v, n in (row.get("top3") or []))
            table.add_row(
                str(row["name"]),
                f"{row['kind']} {row['type']}",
                f"{row['nulls']} ({100 * row['null_fraction']:.1f}%)",
                *(
                    ("-" if row.get(k) is None else fmt_value(row[k]))
                    for k in ("min", "mean", "max", "std")
                ),
                f"{row['distinct']:.0f}",
                top,
            )
        out.print(table)
    if html is not None:
        out.print(f"report: {html.resolve()}")


@data_app.command("schema")
def schema_cmd(
    target: Annotated[
        str, typer.Argument(metavar="PATH_OR_DATASET", help="Data to infer the schema from.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-O", metavar="FILE", help="Write schema.yaml here (default: print it)."
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(metavar="SPLIT", help="For a Dataset: the split to infer from.")
    ] = "train",
    option: OptionOpt = None,
) -> None:
    """Infer a schema (types, nullability, domains, ranges) to edit and pin in shipyard.yaml."""
    from ..validate.schema import infer_schema

    stats = _statistics(target, option)
    chosen = stats.splits.get(split) or next(iter(stats.splits.values()))
    text = infer_schema(chosen).to_yaml()
    if output is None:
        typer.echo(text, nl=False)
        return
    tmp = output.with_suffix(output.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(output)
    console().print(
        f"wrote {output} ({len(chosen.columns)} columns): review it, then set data.schema: {output}"
    )


@data_app.command("validate")
def validate_cmd(
    target: Annotated[str, typer.Argument(metavar="PATH", help="A file, folder or glob.")],
    schema: Annotated[
        Path, typer.Option("--schema", metavar="FILE", help="The schema.yaml to check against.")
    ],
    option: OptionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check data against a schema, streaming; exit 2 when an anomaly of severity error is found."""
    from ..data.ingest import read_batches
    from ..validate.schema import Schema, Validator

    if not schema.is_file():
        raise ConfigError("no such schema file", file=str(schema))
    v = Validator(Schema.from_yaml(schema))
    first = True
    rows = 0
    for batch in read_batches(_source(target, option), root=Path.cwd()):
        if first:
            v.check_schema(batch.schema, where=target)
            first = False
        v.update(batch, where=f"rows {rows}-{rows + batch.num_rows - 1}")
        rows += batch.num_rows
    anomalies = v.anomalies()
    if json_out:
        echo_json(anomalies.to_dict())
    else:
        console().print(
            anomalies.to_text() if len(anomalies) else f"{target}: {rows} rows, no anomalies",
            markup=False,
        )
    if anomalies.errors:
        raise typer.Exit(2)
