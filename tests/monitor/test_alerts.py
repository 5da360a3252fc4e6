"""Alert rules and their actions: streaks over stored windows, a real webhook receiver, retraining."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.config import AlertConfig
from shipyard.monitor._webhook import mask_url, post_json
from shipyard.monitor.alerts import AlertContext, due_alerts, metric_value, perform


def rule(**kwargs: object) -> AlertConfig:
    return AlertConfig.model_validate(kwargs)


def test_a_rule_fires_when_its_streak_reaches_the_windows_asked() -> None:
    rules = [rule(metric="psi:temp", threshold=0.2, windows=2)]
    high, low = {"psi:temp": 0.35}, {"psi:temp": 0.05}
    assert due_alerts(rules, [low, high]) == []  # one window is not two
    [alert] = due_alerts(rules, [low, high, high])
    assert (alert.source, alert.value, alert.windows) == ("psi:temp", 0.35, 2)
    assert due_alerts(rules, [high, high, high]) == []  # fired at 2, next at 4
    assert len(due_alerts(rules, [high] * 4)) == 1
    assert due_alerts(rules, [high, high, low]) == []  # the newest window broke the streak


def test_wildcards_missing_values_and_below() -> None:
    metrics = {"psi:temp": 0.31, "psi:dewp": 0.52, "psi:carrier": None, "roc_auc": 0.61}
    assert metric_value(metrics, "psi:*") == ("psi:dewp", 0.52)
    assert metric_value(metrics, "psi:*", "below") == ("psi:temp", 0.31)
    assert metric_value(metrics, "psi:carrier") is None  # no value: the rule does not hold
    assert metric_value({"rows": 0, "roc_auc": float("nan")}, "roc_auc") is None
    [alert] = due_alerts([rule(metric="roc_auc", threshold=0.7, when="below")], [metrics])
    assert alert.source == "roc_auc" and "below 0.7" in alert.describe()
    assert due_alerts([rule(metric="roc_auc", threshold=0.7, when="below")], [{}]) == []


def test_the_config_checks_what_each_action_needs() -> None:
    with pytest.raises(Exception, match="alias needs action 'retrain'"):
        rule(metric="rows", threshold=1, alias="staging")
    with pytest.raises(Exception, match="needs a url"):
        rule(metric="rows", threshold=1, action="webhook")


class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it is sent."""

    def __init__(self, statuses: list[int]) -> None:
        self.bodies: list[dict[str, object]] = []
        self.statuses = statuses
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver([503])  # the first attempt fails: the action retries
    yield found
    found.close()


def context(root: Path) -> AlertContext:
    window = {"id": 7, "start": "2013-08-01T00:00:00Z", "end": "2013-09-01T00:00:00Z", "rows": 900}
    return AlertContext(root, "flights", "flights@production", window, report="/r/report.html")


def test_a_webhook_receives_the_alert_and_is_retried(tmp_path: Path, receiver: Receiver) -> None:
    [alert] = due_alerts(
        [rule(metric="psi:*", threshold=0.2, action="webhook", url=receiver.url)],
        [{"psi:weather_temp": 0.41, "psi:distance": 0.01}],
    )
    result = perform(alert, context(tmp_path))
    assert result.status == "sent" and result.attempts == 2
    body = receiver.bodies[-1]
    assert body["metric"] == "psi:weather_temp" and body["value"] == 0.41
    assert body["model"] == "flights" and body["window"]["id"] == 7  # type: ignore[index]
    assert body["report"] == "/r/report.html" and "above 0.2" in str(body["message"])
    assert len(receiver.bodies) == 2


def test_a_webhook_that_is_down_fails_cleanly_after_its_retries(tmp_path: Path) -> None:
    down = Receiver([])
    url = down.url
    down.close()  # nothing listens there now
    [alert] = due_alerts(
        [rule(metric="rows", threshold=1, action="webhook", url=url)], [{"rows": 5}]
    )
    started = time.monotonic()
    result = perform(alert, context(tmp_path))
    assert result.status == "failed" and result.attempts == 3
    assert "Connection" in result.detail["error"] or "refused" in result.detail["error"]
    assert time.monotonic() - started < 10


def test_webhooks_to_link_local_hosts_and_redirects_are_refused(receiver: Receiver) -> None:
    outcome = post_json("http://169.254.169.254/latest/meta-data", {"a": 1})
    assert not outcome.ok and outcome.attempts == 0 and "link-local" in str(outcome.error)
    redirect = Receiver([302])
    try:
        outcome = post_json(redirect.url, {"a": 1})
        assert not outcome.ok and outcome.status == 302 and outcome.attempts == 1
    finally:
        redirect.close()


def test_credentials_in_a_webhook_url_are_masked() -> None:
    assert mask_url("https://user:s3cret@hooks.example.com:8443/x?y=1") == (
        "https://***@hooks.example.com:8443/x?y=1"
    )
    outcome = post_json("http://user:s3cret@169.254.1.1/", {})
    assert "s3cret" not in json.dumps(outcome.detail())
