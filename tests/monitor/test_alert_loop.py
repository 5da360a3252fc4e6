"""`shipyard monitor run` fires the rules of shipyard.yaml on stored windows and records the actions."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.monitor.alerts import list_actions
from shipyard.pipeline.project import Project

from ..conftest import cli
from .conftest import make_table, write_log
from .test_alerts import Receiver

RULES = """
monitor:
  window: {{rows: 500}}
  alerts:
    - {{metric: "psi:*", threshold: 0.2, action: log}}
    - {{metric: psi:income, threshold: 0.2, windows: 2, action: webhook, url: "{url}"}}
    - {{metric: rows, threshold: 100, action: webhook, url: "{down}"}}
"""


def test_rules_fire_on_their_streaks_and_every_action_is_recorded(monitored: Path) -> None:
    receiver = Receiver([])
    down = Receiver([])
    down_url = down.url
    down.close()  # a webhook that is down: retried, recorded as failed, the monitor goes on
    try:
        config = monitored / "shipyard.yaml"
        config.write_text(config.read_text() + RULES.format(url=receiver.url, down=down_url))
        write_log(monitored, make_table(500, 21), request_rows=50)  # like training: no drift
        write_log(monitored, make_table(1000, 22, shift=1.5), request_rows=50)  # income drifts
        r = cli("monitor", "run", "--once", cwd=monitored, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "psi:income" in r.stdout and "-> webhook sent" in r.stdout

        windows = json.loads(cli("monitor", "status", "--json", cwd=monitored).stdout)
        first, second, third = (w["id"] for w in windows)
        project = Project.discover(monitored)
        try:
            actions = list_actions(project.metadata, "loans")
        finally:
            project.close()
        fired = {(a["window_id"], a["action"], a["status"]) for a in actions}
        # The first window is like training: only the `rows` rule fires. The next two drift:
        # a log each, and the working webhook once the streak reaches 2 windows.
        assert fired == {
            (first, "webhook", "failed"),
            (second, "log", "done"),
            (second, "webhook", "failed"),
            (third, "log", "done"),
            (third, "webhook", "sent"),
            (third, "webhook", "failed"),
        }
        failed = [a for a in actions if a["status"] == "failed"]
        assert all(a["attempts"] == 3 and a["detail"]["error"] for a in failed)
        assert len(receiver.bodies) == 1 and receiver.bodies[0]["metric"] == "psi:income"
        assert receiver.bodies[0]["windows"] == 2
        assert receiver.bodies[0]["window"]["id"] == third  # type: ignore[index]
        sent = next(a for a in actions if a["status"] == "sent")
        assert sent["report"] == windows[2]["report"] and sent["rule"]["matched"] == "psi:income"

        shown = cli("monitor", "status", cwd=monitored)
        assert "recent actions" in shown.stdout and "webhook sent" in shown.stdout
    finally:
        receiver.close()
