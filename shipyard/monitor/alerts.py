"""Alert rules over the monitor's windows, and the actions they start: log, webhook, retrain.

A rule (``monitor.alerts`` in ``shipyard.yaml``) names a metric of the window
(``psi:weather_temp``, ``error_rate``, ``roc_auc``; ``psi:*`` means the
largest PSI of any feature, or the smallest with ``when: below``), a
threshold, and how many consecutive windows it must hold for. The streak is
read from the windows stored in the metadata store, so it survives between
``shipyard monitor run --once`` calls. A rule fires when its streak reaches
``windows``, and again each further ``windows`` windows while it still holds
(a drift that persists after a rejected retraining is retried, not every
window).

Every action is recorded in the ``monitor_actions`` table with the window and
the report that caused it, whatever its outcome; an action that fails (a
webhook that is down, a retraining that crashes) is recorded as failed and
never stops the monitor.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._webhook import post_json

__all__ = [
    "ActionResult",
    "Alert",
    "AlertContext",
    "alert_hook",
    "due_alerts",
    "list_actions",
    "metric_value",
    "perform",
    "record_action",
]

log = logging.getLogger("shipyard.monitor")

Metrics = Mapping[str, Any]


@dataclass(frozen=True)
class Alert:
    """A rule that fired on a window.

    Attributes
    ----------
    rule
        Index of the rule in ``monitor.alerts``.
    metric, source
        The metric as the rule writes it, and the window's metric that matched
        (``psi:*`` -> ``psi:weather_temp``).
    value, threshold, when, windows
        The window's value, the rule's threshold and direction, and the streak.
    action, url, alias
        What the rule does.
    """

    rule: int
    metric: str
    source: str
    value: float
    threshold: float
    when: str
    windows: int
    action: str
    url: str | None = None
    alias: str | None = None

    def describe(self) -> str:
        """One line for logs and the audit log's reason."""
        return (
            f"{self.source}={self.value:.4g} {self.when} {self.threshold:g}"
            f" for {self.windows} window(s)"
        )


@dataclass
class ActionResult:
    """How an action ended: ``status`` in done, sent, failed, promoted, rejected, not-promoted."""

    status: str
    attempts: int = 1
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class AlertContext:
    """What an action needs to know about the window that caused it."""

    root: Path
    model: str
    ref: str
    window: dict[str, Any]
    report: str | None = None
    report_artifact: str | None = None
    allow_link_local: bool = False
    retrain_timeout_s: float = 3600.0


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def metric_value(metrics: Metrics, name: str, when: str = "above") -> tuple[str, float] | None:
    """The window's value of ``name``: exact, or for ``prefix*`` the most extreme match.

    Returns None when the window has no finite value for it (no traffic, no labels).
    """
    if name.endswith("*"):
        prefix = name[:-1]
        found = [(k, float(v)) for k, v in metrics.items() if k.startswith(prefix) and _finite(v)]
        if not found:
            return None
        pick = max if when == "above" else min
        return pick(found, key=lambda kv: kv[1])
    value = metrics.get(name)
    return (name, float(value)) if value is not None and _finite(value) else None


def _holds(rule: Any, metrics: Metrics) -> tuple[str, float] | None:
    found = metric_value(metrics, rule.metric, rule.when)
    if found is None:
        return None
    _, value = found
    ok = value > rule.threshold if rule.when == "above" else value < rule.threshold
    return found if ok else None


def due_alerts(rules: Sequence[Any], history: Sequence[Metrics]) -> list[Alert]:
    """The rules that fire on the newest window of ``history`` (oldest first).

    Parameters
    ----------
    rules
        ``monitor.alerts`` (:class:`~shipyard.config.AlertConfig` items).
    history
        The metrics of the model's windows in order, the newest last.
    """
    fired: list[Alert] = []
    if not history:
        return fired
    for index, rule in enumerate(rules):
        newest = _holds(rule, history[-1])
        if newest is None:
            continue
        streak = 0
        for metrics in reversed(history):
            if _holds(rule, metrics) is None:
                break
            streak += 1
        if streak % rule.windows:
            continue
        source, value = newest
        fired.append(
            Alert(
                rule=index,
                metric=rule.metric,
                source=source,
                value=value,
                threshold=rule.threshold,
                when=rule.when,
                windows=streak,
                action=rule.action,
                url=rule.url,
                alias=getattr(rule, "alias", None),
            )
        )
    return fired


def perform(alert: Alert, context: AlertContext) -> ActionResult:
    """Carry out the alert's action; never raises (a failure is a result)."""
    try:
        if alert.action == "webhook":
            return _webhook(alert, context)
        if alert.action == "retrain":
            return _retrain(alert, context)
        log.warning("alert on %s (%s): %s", context.ref, _window_name(context), alert.describe())
        return ActionResult("done")
    except Exception as exc:  # noqa: BLE001 - an action never stops the monitor
        log.exception("alert action %s failed", alert.action)
        return ActionResult("failed", detail={"error": f"{type(exc).__name__}: {exc}"})


def _window_name(context: AlertContext) -> str:
    return f"window {context.window.get('id')}"


def payload(alert: Alert, context: AlertContext) -> dict[str, Any]:
    """The JSON body a webhook receives."""
    return {
        "event": "shipyard.alert",
        "model": context.model,
        "ref": context.ref,
        "metric": alert.source,
        "rule_metric": alert.metric,
        "value": alert.value,
        "threshold": alert.threshold,
        "when": alert.when,
        "windows": alert.windows,
        "window": context.window,
        "report": context.report,
        "report_artifact": context.report_artifact,
        "message": f"{context.ref}: {alert.describe()}",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _webhook(alert: Alert, context: AlertContext) -> ActionResult:
    assert alert.url is not None  # the config requires it
    outcome = post_json(
        alert.url, payload(alert, context), allow_link_local=context.allow_link_local
    )
    status = "sent" if outcome.ok else "failed"
    return ActionResult(status, attempts=outcome.attempts, detail=outcome.detail())


def _retrain(alert: Alert, context: AlertContext) -> ActionResult:
    """Run the standard pipeline afresh; promote what the gate blesses to the alias."""
    from ..pipeline.project import Project
    from ..registry import Registry

    command = [
        sys.executable,
        "-m",
        "shipyard.monitor._retrain",
        str(context.root),
        "--tag",
        "shipyard.trigger=monitor",
        "--tag",
        f"shipyard.monitor.window={context.window.get('id')}",
        "--tag",
        f"shipyard.monitor.metric={alert.source}",
    ]
    log.warning("alert on %s: %s -> retraining", context.ref, alert.describe())
    done = subprocess.run(  # noqa: S603 - an argument list, no shell
        command,
        cwd=context.root,
        capture_output=True,
        text=True,
        timeout=context.retrain_timeout_s,
        check=False,
    )
    outcome = _last_json(done.stdout)
    if outcome is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return ActionResult(
            "failed", detail={"error": f"exit code {done.returncode}", "output": tail}
        )
    if outcome.get("status") != "succeeded":
        return ActionResult(str(outcome.get("status") or "failed"), detail=outcome)
    version = outcome.get("version")
    if version is None or not outcome.get("blessed", False):
        return ActionResult("not-promoted", detail=outcome)
    project = Project.discover(context.root)
    try:
        alias = alert.alias or project.config.register.alias or "production"
        move = Registry(project).set_alias(
            context.model,
            alias,
            int(version),
            reason=f"retrained after {_window_name(context)}: {alert.describe()}",
            user="shipyard-monitor",
        )
    finally:
        project.close()
    detail = {**outcome, "alias": alias, "from_version": move.from_version}
    return ActionResult("promoted", detail=detail)


def _last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def record_action(
    metadata: Any,
    *,
    model: str,
    window_id: int | None,
    alert: Alert,
    result: ActionResult,
    report: str | None,
) -> int:
    """Write an action and its outcome to ``monitor_actions``; returns its id."""
    from sqlalchemy import insert

    from ..store import _tables as t

    rule = {
        "index": alert.rule,
        "metric": alert.metric,
        "threshold": alert.threshold,
        "when": alert.when,
        "matched": alert.source,
        "value": alert.value,
        "windows": alert.windows,
    }
    with metadata.write() as conn:
        row = conn.execute(
            insert(t.monitor_actions).values(
                model=model,
                window_id=window_id,
                rule=json.dumps(rule, sort_keys=True),
                action=alert.action,
                status=result.status,
                attempts=result.attempts,
                detail=json.dumps(result.detail, sort_keys=True, default=str),
                report=report,
                at=time.time(),
            )
        )
        key = row.inserted_primary_key
        return int(key[0]) if key is not None else 0


def list_actions(metadata: Any, model: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Recorded actions of ``model``, oldest first, JSON fields decoded."""
    from sqlalchemy import select

    from ..store import _tables as t

    a = t.monitor_actions
    query = select(a).where(a.c.model == model).order_by(a.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with metadata.read() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    for row in rows:
        row["rule"] = json.loads(row["rule"])
        row["detail"] = json.loads(row["detail"])
    return list(reversed(rows))


def alert_hook(project: Any, *, history: int = 1000) -> Any:
    """``on_window`` for :func:`~shipyard.monitor.run_monitor`: fire ``monitor.alerts``, record.

    Each fired rule's action runs at once (a retraining blocks the monitor
    until it ends) and is recorded with the window and its report.
    """
    from ._store import list_windows

    config = project.config.monitor
    rules = list(config.alerts)

    def on_window(result: Any) -> None:
        if not rules:
            return
        windows = list_windows(project.metadata, result.model, result.ref, limit=history)
        metrics = [w["metrics"] for w in windows]
        context = AlertContext(
            root=Path(project.root),
            model=result.model,
            ref=result.ref,
            window={
                "id": result.window_id,
                "start": _iso(result.start),
                "end": _iso(result.end),
                "rows": result.rows,
            },
            report=str(result.report_html) if result.report_html else None,
            report_artifact=result.report_digest,
            allow_link_local=config.allow_link_local_webhooks,
        )
        for alert in due_alerts(rules, metrics):
            outcome = perform(alert, context)
            record_action(
                project.metadata,
                model=result.model,
                window_id=result.window_id,
                alert=alert,
                result=outcome,
                report=result.report_digest,
            )
            log.warning(
                "%s: %s -> %s %s", result.ref, alert.describe(), alert.action, outcome.status
            )

    return on_window


def _iso(seconds: float | None) -> str | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
