"""Trials as child runs in the metadata store: the journal's mirror.

A trial's child run is created when the trial starts (its params, tags naming
the study and the trial number) and finished when the trial ends (curves, the
final metric, the training time, its state) in one transaction. The journal is
written first and is the record: a child run left ``running`` by a killed
process is finished later from the journal, and a run already finished is
never written again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from ..store.metadata import MetadataStore
    from .study import StudySpec

__all__ = ["child_name", "finish_child", "start_child", "state_name", "sync_children"]

PIPELINE = "tune"  # the pipeline column of a trial's run: trials are not pipelines of their own
INTERRUPTED = "interrupted"


def child_name(spec: StudySpec, number: int) -> str:
    """``<run>.trial-<n>``, or ``<run>.<node>.trial-<n>`` for a tune step not named tune_model."""
    node = "" if spec.study == "tune_model" else f".{spec.study}"
    return f"{spec.parent_name}{node}.trial-{number}"


def state_name(trial: optuna.trial.FrozenTrial) -> str:
    """complete, pruned, failed, interrupted or running."""
    if trial.user_attrs.get(INTERRUPTED):
        return INTERRUPTED
    name = trial.state.name.lower()
    return {"fail": "failed"}.get(name, name)


def start_child(store: MetadataStore, spec: StudySpec, number: int, params: dict[str, Any]) -> str:
    """Create the child run of trial ``number``; return its ID."""
    run_id, _ = store.create_run(
        pipeline=PIPELINE,
        source="",
        seed=spec.seed,
        params=params,
        tags={"tune.node": spec.study, "tune.trial": str(number), "tune.state": "running"},
        name=child_name(spec, number),
        parent_id=spec.parent_run,
    )
    return run_id


def finish_child(
    store: MetadataStore,
    run_id: str,
    *,
    state: str,
    metric: str,
    value: float | None,
    curves: list[tuple[str, float, int, float]],
    fit_s: float | None,
    error: str | None,
) -> None:
    """End a trial's child run: curves, the study's metric, ``fit_s`` and ``tune.state``."""
    now = time.time()
    # Per-feature importances of every trial would bury the few metrics that tell trials apart.
    rows = [r for r in curves if not r[0].startswith("importance.")]
    if value is not None:
        # The bare name: the trainers' curves are eval_<their metric>, and a curve's last
        # round would hide a final value logged under the same key.
        rows.append((metric, float(value), 0, now))
    if fit_s is not None:
        rows.append(("fit_s", float(fit_s), 0, now))
    store.finish_run(
        run_id,
        "failed" if state in ("failed", INTERRUPTED) else "succeeded",
        error,
        metrics=rows,
        tags={"tune.state": state},
    )


def sync_children(study: optuna.Study, store: MetadataStore, spec: StudySpec) -> int:
    """Finish, from the journal, the child runs a killed process left ``running``; return how many."""
    children = store.list_runs(
        parent=spec.parent_run, tags={"tune.node": spec.study}, status="running"
    )
    if not children:
        return 0
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    done = 0
    for run in children:
        trial = trials.get(int(run["tags"]["tune.trial"]))
        if trial is None or not trial.state.is_finished():
            continue
        state = state_name(trial)
        finish_child(
            store,
            run["id"],
            state=state,
            metric=spec.metric,
            value=trial.value if state == "complete" else None,
            curves=[],
            fit_s=None,
            error=trial.user_attrs.get("error"),
        )
        done += 1
    return done
