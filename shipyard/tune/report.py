"""The HTML report of a tuning study: history, param importances, slices, curves and trials.

Read from the study's journal (the record); a self-contained page whose
images are data: URIs, written atomically.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._html import page, write_atomic
from ..errors import ShipyardError
from . import _plots
from ._records import state_name
from .study import journal_path

if TYPE_CHECKING:
    import optuna

    from ..pipeline.project import Project

__all__ = ["find_study", "render_tune_report", "write_tune_report"]


def find_study(
    project: Project, run_ref: str, node: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """The journal of a run's study (a trial's run stands for its parent) and the run.

    Raises
    ------
    ShipyardError
        When the run has no study, or several and ``node`` names none of them.
    """
    store = project.metadata
    run = store.resolve_run(run_ref)
    if run["parent_id"]:
        run = store.resolve_run(run["parent_id"])
    folder = journal_path(project.store_dir, run["id"], "x").parent
    found = sorted(p.stem for p in folder.glob("*.journal")) if folder.is_dir() else []
    if node is None and len(found) == 1:
        node = found[0]
    if node is None or node not in found:
        which = f"{', '.join(found)}; choose one with --step" if found else "none"
        raise ShipyardError(
            f"run {run['name']} ({run['id'][:8]}) has no tuning study"
            + (f" of step {node!r}" if node else "")
            + f" (studies: {which}); the journal would be under {folder}"
        )
    return journal_path(project.store_dir, run["id"], node), run


def write_tune_report(
    project: Project, run_ref: str, *, node: str | None = None, output: Path | None = None
) -> Path:
    """Write the report of a run's study; return its path (default: beside the journal)."""
    journal, run = find_study(project, run_ref, node)
    study = _load(journal)
    text = render_tune_report(study, title=f"{run['name']}: tuning of {study.study_name}")
    target = output or journal.with_name(f"{journal.stem}-report.html")
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(target, text)


def _load(journal: Path) -> optuna.Study:
    import optuna

    from ._optuna import journal_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = journal_storage(journal)
    names = [s.study_name for s in storage.get_all_studies()]
    if not names:
        raise ShipyardError(f"the journal {journal} holds no study")
    return optuna.load_study(study_name=names[0], storage=storage)


def render_tune_report(study: optuna.Study, *, title: str) -> str:
    """The report's HTML."""
    from optuna.trial import TrialState

    attrs = study.user_attrs
    metric = str(attrs.get("metric", "value"))
    maximize = study.direction.name == "MAXIMIZE"
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    counts: dict[str, int] = {}
    for t in trials:
        counts[state_name(t)] = counts.get(state_name(t), 0) + 1
    parts = [_header(study, title, metric, maximize, counts, complete)]
    if complete:
        parts.append(_history(complete, maximize, metric))
        parts.append(_importances(study))
        parts.append(_slices(study, complete, metric))
    parts.append(_curves(trials))
    parts.append(_table(trials, metric))
    return page(title, "\n".join(p for p in parts if p), _CSS)


def _header(
    study: optuna.Study,
    title: str,
    metric: str,
    maximize: bool,
    counts: Mapping[str, int],
    complete: list[optuna.trial.FrozenTrial],
) -> str:
    attrs = study.user_attrs
    meta = {
        "objective": f"{'maximize' if maximize else 'minimize'} {metric} on the eval split",
        "algorithm": attrs.get("algorithm", "-"),
        "sampler / pruner": f"{attrs.get('sampler', '-')} / {attrs.get('pruner', '-')}",
        "trials asked": attrs.get("trials", "-"),
        "workers": attrs.get("workers", "-"),
    }
    if complete:
        best = study.best_trial
        meta["best trial"] = f"#{best.number}: {metric} = {_num(best.value)}"
        meta["best params"] = ", ".join(f"{k}={_num(v)}" for k, v in best.params.items())
    items = "".join(f"<dt>{_e(str(k))}</dt><dd>{_e(str(v))}</dd>" for k, v in meta.items())
    chips = "".join(
        f'<span class="chip">{n} {_e(state)}</span>' for state, n in sorted(counts.items())
    )
    return (
        f'<header><h1>{_e(title)}</h1><dl class="meta">{items}</dl>'
        f'<div class="chips">{chips}</div></header>'
    )


def _figure(png: _plots.Png, caption: str, note: str = "") -> str:
    data, w, h = png
    return (
        f'<figure class="plot"><figcaption>{_e(caption)}</figcaption>'
        f'<img alt="{_e(caption)}" width="{w}" height="{h}" src="data:image/png;base64,{data}">'
        + (f'<p class="note">{_e(note)}</p>' if note else "")
        + "</figure>"
    )


def _history(complete: list[optuna.trial.FrozenTrial], maximize: bool, metric: str) -> str:
    png = _plots.history(
        [t.number for t in complete], [float(t.value or 0.0) for t in complete], maximize, metric
    )
    return f'<section id="history"><h2>Optimisation history</h2>{_figure(png, "Value of each complete trial")}</section>'


def _importances(study: optuna.Study) -> str:
    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as exc:
        return (
            '<section id="importances"><h2>Parameter importances</h2>'
            f'<p class="note">Not computed: {_e(str(exc))}</p></section>'
        )
    if not values:
        return ""
    note = "How much of the variation among the best trials each param explains."
    png = _plots.importances({k: float(v) for k, v in values.items()})
    return (
        '<section id="importances"><h2>Parameter importances</h2>'
        f"{_figure(png, 'Importance of each param', note)}</section>"
    )


def _slices(study: optuna.Study, complete: list[optuna.trial.FrozenTrial], metric: str) -> str:
    names: list[str] = []
    logs: dict[str, bool] = {}
    for t in complete:
        for name, dist in t.distributions.items():
            if name not in names:
                names.append(name)
                logs[name] = bool(getattr(dist, "log", False))
    if not names:
        return ""
    params = {name: [t.params.get(name) for t in complete] for name in names}
    png = _plots.slices(
        params,
        [float(t.value or 0.0) for t in complete],
        [t.number for t in complete],
        logs,
        metric,
    )
    note = "Each point is a complete trial; darker points are later trials."
    return f'<section id="slices"><h2>Slices</h2>{_figure(png, f"{metric} against each param", note)}</section>'


def _curves(trials: list[optuna.trial.FrozenTrial]) -> str:
    from optuna.trial import TrialState

    series = [
        (dict(t.intermediate_values), t.state == TrialState.PRUNED)
        for t in trials
        if t.intermediate_values and t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    ]
    if not series:
        return ""
    note = (
        "The trainer's eval curve as the pruner saw it (negated when the study maximises and"
        " the curve is a loss)."
    )
    png = _plots.curves(series, "reported value")
    return f'<section id="curves"><h2>Curves and pruning</h2>{_figure(png, "Eval curve of each trial", note)}</section>'


def _table(trials: list[optuna.trial.FrozenTrial], metric: str) -> str:
    names: list[str] = []
    for t in trials:
        names += [n for n in t.params if n not in names]
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    rows = []
    for t in trials:
        state = state_name(t)
        took = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        cells = "".join(f'<td class="num">{_num(t.params.get(n))}</td>' for n in names)
        value = _num(t.value) if state == "complete" else ""
        error = t.user_attrs.get("error", "")
        rows.append(
            f'<tr class="{_e(state)}"><td class="num">{t.number}</td><td>{_e(state)}</td>'
            f'<td class="num">{value}</td><td class="num">{"" if took is None else f"{took:.2f}"}</td>'
            f"{cells}<td><code>{_e(str(t.user_attrs.get('run_id', ''))[:8])}</code>"
            f" <span class=dim>{_e(str(error)[:160])}</span></td></tr>"
        )
    return (
        '<section id="trials"><h2>Trials</h2><div class="scroll"><table><thead><tr>'
        f'<th class="num">#</th><th>state</th><th class="num">{_e(metric)}</th>'
        f'<th class="num">seconds</th>{head}<th>run</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool) or not isinstance(x, int | float):
        return _e(str(x))
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:20px 24px 60px}
header,section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:14px 20px;margin-bottom:16px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:18px;margin:0 0 10px;padding-bottom:4px;border-bottom:1px solid #d0d7de}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0 10px;color:#57606a}
dl.meta dt{font-weight:600}dl.meta dd{margin:0;overflow-wrap:anywhere}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0}
.chip{background:#eaeef2;border-radius:12px;padding:2px 10px;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #eaeef2}
thead th{background:#f6f8fa;font-weight:600;border-bottom:1px solid #d0d7de;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
tr.failed td,tr.interrupted td{background:#fff5f5}
tr.pruned td{color:#57606a}
.scroll{overflow-x:auto}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;padding:0 3px;border-radius:3px}
.dim{color:#8c959f}
.note{color:#57606a;font-size:13px;margin:4px 0 10px}
figure.plot{margin:0;max-width:100%}
figure.plot figcaption{font-weight:600;font-size:14px;margin-bottom:4px}
figure.plot img{display:block;max-width:100%;height:auto}
footer{color:#8c959f;font-size:12px;text-align:center}
"""
