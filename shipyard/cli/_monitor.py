"""``shipyard monitor``: drift reports over windows of the prediction log, labels, status."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ConfigError
from ._format import console, echo_json, fmt_time
from ._monitor_probe import probe_command

if TYPE_CHECKING:
    from ..monitor import WindowResult

__all__ = ["monitor_app"]

monitor_app = typer.Typer(
    help="Watch a served model: drift reports over windows of its prediction log.",
    no_args_is_help=True,
)

RefArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[NAME@ALIAS]",
        help="The model watched; default: monitor.model, else <register.model_name>@production.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_STATUS_ROWS = 20


def _project() -> Any:
    from ..pipeline.project import Project

    return Project.discover()


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _print_window(result: WindowResult, project: Any) -> None:
    m = result.metrics
    drifted = ", ".join(result.drifted_features) or "none"
    console().print(
        f"window {result.window_id}: {fmt_time(result.start)} – {fmt_time(result.end)},"
        f" {result.rows:,} rows, drifted: {drifted}, prediction PSI {_fmt(m.get('prediction_psi'))},"
        f" error rate {_fmt(m.get('error_rate'))}, p99 {_fmt(m.get('latency_p99_ms'))} ms",
        highlight=False,
        markup=False,
    )
    if result.report_html is not None:
        console().print(f"  report: {project.relative(result.report_html)}", markup=False)


def _every_seconds(text: str) -> float:
    from .._config_types import parse_duration

    try:
        return parse_duration(text).total_seconds()
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"--every {text!r}: {exc}; expected a duration like 5m", field="every"
        ) from None


@monitor_app.command("run")
def run_cmd(
    ref: RefArg = None,
    once: Annotated[bool, typer.Option("--once", help="One pass over the new windows.")] = False,
    every: Annotated[
        str | None, typer.Option("--every", metavar="DURATION", help="Pass again every 5m, 1h ...")
    ] = None,
    partial: Annotated[
        bool,
        typer.Option("--partial", help="Also report the window in progress (up to now)."),
    ] = False,
    log_dir: Annotated[
        Path | None,
        typer.Option(
            "--log-dir",
            metavar="DIR",
            help="Prediction log folder; default: serve.log.path, else .shipyard/predictions.",
        ),
    ] = None,
    actions: Annotated[
        bool,
        typer.Option(
            "--actions/--no-actions", help="Run the alert rules' actions (monitor.alerts)."
        ),
    ] = True,
    json_out: JsonOpt = False,
) -> None:
    """Report each finished window of the prediction log not reported yet; fire alert rules."""
    from ..monitor import run_monitor
    from ..monitor.alerts import alert_hook, list_actions
    from ..monitor.api import default_ref

    if once == (every is not None):
        raise ConfigError("give --once or --every DURATION")
    seconds = _every_seconds(every) if every is not None else None
    project = _project()
    try:
        ref = ref or default_ref(project)
        results: list[WindowResult] = []
        while True:
            hook = alert_hook(project) if actions else None
            try:
                done = run_monitor(project, ref, partial=partial, log_dir=log_dir, on_window=hook)
            except KeyboardInterrupt:
                # Each window is stored in one transaction: those done stay, the next run
                # starts after them.
                console(stderr=True).print("stopped; windows reported so far are kept")
                break
            results += done
            if not json_out:
                ids = {r.window_id for r in done}
                fired = [
                    a for a in list_actions(project.metadata, _name(ref)) if a["window_id"] in ids
                ]
                for r in done:
                    _print_window(r, project)
                    for a in (a for a in fired if a["window_id"] == r.window_id):
                        _print_action(a)
            if seconds is None:
                break
            if not json_out:
                console(stderr=True).print(
                    f"[dim]{time.strftime('%H:%M:%S')} {ref}: {len(done)} new window(s);"
                    f" next pass in {every} (Ctrl-C stops)[/]"
                )
            try:
                time.sleep(seconds)
            except KeyboardInterrupt:
                console(stderr=True).print("stopped")
                break
        if json_out:
            recorded = list_actions(project.metadata, _name(ref))
            echo_json(
                [
                    _result_json(r)
                    | {"actions": [a for a in recorded if a["window_id"] == r.window_id]}
                    for r in results
                ]
            )
        elif not results:
            console().print(f"no finished window of {ref} to report", markup=False)
    finally:
        project.close()


def _name(ref: str) -> str:
    from ..refs import parse_ref

    return parse_ref(ref).name


def _print_action(a: dict[str, Any]) -> None:
    rule, detail = a["rule"], a["detail"]
    what = f"{rule['matched']}={rule['value']:.4g} {rule['when']} {rule['threshold']:g}"
    extra = ""
    if a["status"] == "promoted":
        extra = f": version {detail.get('version')} is now @{detail.get('alias')}"
    elif a["status"] in ("rejected", "failed") and detail.get("error"):
        extra = f": {str(detail['error'])[:200]}"
    elif detail.get("url"):
        extra = f": {detail['url']}"
    console().print(
        f"  alert {what} -> {a['action']} {a['status']}{extra}", highlight=False, markup=False
    )


def _result_json(r: WindowResult) -> dict[str, Any]:
    return {
        "window_id": r.window_id,
        "model": r.model,
        "ref": r.ref,
        "start": r.start,
        "end": r.end,
        "rows": r.rows,
        "drifted_features": r.drifted_features,
        "report_digest": r.report_digest,
        "report_html": str(r.report_html) if r.report_html else None,
        "metrics": r.metrics,
    }


_LABEL_METRICS = ("roc_auc", "accuracy", "rmse", "log_loss", "f1")


def _short_time(ts: float) -> str:
    """``MM-DD HH:MM`` in local time (the year is in ``--json``)."""
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%m-%d %H:%M")


@monitor_app.command("status")
def status_cmd(ref: RefArg = None, json_out: JsonOpt = False) -> None:
    """Summary of the reported windows: rows, drifted features, top PSI, errors, p99, labels."""
    from rich.table import Table

    from ..monitor.alerts import list_actions
    from ..monitor.api import default_ref, status_rows
    from ..monitor.html import report_folder

    project = _project()
    try:
        ref = ref or default_ref(project)
        windows = status_rows(project, ref)
        if json_out:
            echo_json([{k: v for k, v in w.items() if k != "cursor"} for w in windows])
            return
        if not windows:
            console().print(f"no windows reported for {ref}: run `shipyard monitor run --once`")
            return
        shown = windows[-_STATUS_ROWS:]
        # The task's primary label metric only (all of them: --json), so that 80 columns fit.
        labels = [k for k in _LABEL_METRICS if any(k in w["metrics"] for w in shown)][:1]
        table = Table(title=f"{ref}: {len(windows)} windows", title_justify="left")
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("start", no_wrap=True)
        for name in ("rows", "drifted"):
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("top PSI", min_width=10, overflow="fold")
        for name in ("errors", "p99 ms", *labels):
            table.add_column(name, justify="right", no_wrap=True)
        for w in shown:
            m = w["metrics"]
            psi = [
                (k.removeprefix("psi:"), v)
                for k, v in m.items()
                if k.startswith("psi:") and v is not None
            ]
            top = max(psi, key=lambda kv: kv[1], default=None)
            table.add_row(
                str(w["id"]),
                _short_time(w["start"]),
                f"{int(w['rows']):,}",
                _fmt(m.get("drifted_features")),
                f"{top[0]} {top[1]:.3f}" if top else "–",
                _fmt(m.get("error_rate")),
                _fmt(m.get("latency_p99_ms")),
                *(_fmt(m.get(k)) for k in labels),
            )
        console().print(table)
        acted = list_actions(project.metadata, windows[-1]["model"], limit=5)
        if acted:
            console().print("recent actions:")
            for a in acted:
                console().print(f"  window {a['window_id']}, {fmt_time(a['at'])}:", end="")
                _print_action(a)
        folder = report_folder(project, windows[-1]["model"])
        console().print(f"report: {project.relative(folder / 'report.html')}", markup=False)
    finally:
        project.close()


@monitor_app.command("labels")
def labels_cmd(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of labels.")],
    ref: Annotated[
        str | None,
        typer.Option("--model", metavar="NAME@ALIAS", help="Model labelled; default as for run."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", metavar="COL", help="The id column holds the model's key column."),
    ] = None,
    request_id_column: Annotated[
        str | None,
        typer.Option("--request-id-column", metavar="COL", help="The id column holds request ids."),
    ] = None,
    label_column: Annotated[
        str, typer.Option("--label-column", metavar="COL", help="The label column.")
    ] = "label",
    time_column: Annotated[
        str | None, typer.Option("--time-column", metavar="COL", help="When the label was known.")
    ] = None,
) -> None:
    """Store labels that arrived later; the next `monitor run` computes the model's metrics."""
    from ..monitor import import_labels
    from ..monitor._labels import labels_folder
    from ..monitor.api import default_ref
    from ..refs import parse_ref

    project = _project()
    try:
        name = parse_ref(ref or default_ref(project)).name
        if key is None and request_id_column is None:
            raise ConfigError("give the id column: --key COL or --request-id-column COL")
        path, rows = import_labels(
            file,
            labels_folder(Path(project.store_dir), name),
            key=key,
            request_id_column=request_id_column,
            label_column=label_column,
            time_column=time_column,
        )
        console().print(f"stored {rows:,} labels of {name}: {project.relative(path)}", markup=False)
    finally:
        project.close()


monitor_app.command("probe")(probe_command)
