"""``shipyard tune ...``: tuning studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._format import console, echo_json

__all__ = ["register", "tune_app"]

tune_app = typer.Typer(help="Hyperparameter tuning studies.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tune_app, name="tune")


@tune_app.command("report")
def report(
    run_ref: Annotated[
        str, typer.Argument(metavar="RUN", help="The tuned run (or one of its trials): ID or name.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Where to write (default: beside the journal)."
        ),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option("--step", metavar="NODE", help="The tune step, when a run has several."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Write the HTML report of a run's study: history, importances, slices, curves, trials."""
    from ..pipeline.project import Project
    from ..tune.report import write_tune_report

    path = write_tune_report(Project.discover(), run_ref, node=node, output=output)
    if json_out:
        echo_json({"report": str(path)})
        return
    console().print(f"report: {path}")
