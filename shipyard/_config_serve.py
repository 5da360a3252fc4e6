"""Sections of ``shipyard.yaml`` for running a model: ``serve`` and ``monitor``.

Public through :mod:`shipyard.config`. Defaults are the safe ones
(``docs/RELIABILITY``): bind 127.0.0.1, no default token, bounded queues, and
no webhook to link-local addresses such as a cloud's metadata service.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from ._config_types import (
    Duration,
    Location,
    ModelRef,
    Schedule,
    Section,
    duplicates,
    parse_duration,
)
from ._config_yaml import FieldError

# -- serve --------------------------------------------------------------------------------


class TrafficRoute(Section):
    """A model served to a share of requests."""

    ref: ModelRef = Field(description="Model reference: NAME@ALIAS, NAME:VERSION or NAME.")
    weight: float = Field(default=1.0, ge=0, description="Relative share of requests.")


class AuthToken(Section):
    """A bearer token and what it may do."""

    token: SecretStr = Field(
        description="The token, 16+ characters; write ${ENV_VAR}, not the value itself."
    )
    name: str | None = Field(default=None, description="Label shown in logs instead of the token.")
    scopes: list[Literal["infer", "admin", "inference"]] = Field(
        default=["infer"],
        min_length=1,
        description="infer, admin or both ('inference' is accepted for infer).",
    )

    @model_validator(mode="after")
    def _check(self) -> AuthToken:
        if len(self.token.get_secret_value()) < 16:
            raise FieldError(("token",), "a token needs at least 16 characters")
        return self


class ServeAuth(Section):
    """Bearer-token authentication of the server."""

    enabled: bool = Field(default=False, description="Require a token on every route.")
    tokens: list[AuthToken] = Field(default_factory=list, description="Accepted tokens.")
    tokens_file: Path | None = Field(
        default=None,
        description="File of lines 'TOKEN [infer,admin]', read when the server starts.",
    )
    tokens_env: str | None = Field(
        default=None,
        min_length=1,
        description="Variable holding 'TOKEN [SCOPES]' entries split by ';', read at start.",
    )
    open_routes: list[Literal["/metrics", "/docs", "/openapi.json"]] = Field(
        default_factory=list, description="Routes opened to requests without a token."
    )

    @model_validator(mode="after")
    def _check(self) -> ServeAuth:
        sources = self.tokens or self.tokens_file is not None or self.tokens_env is not None
        if self.enabled and not sources:
            raise FieldError(
                ("tokens",),
                "enabled=true needs at least one token (tokens, tokens_file or tokens_env)",
            )
        values = [t.token.get_secret_value() for t in self.tokens]
        if len(set(values)) != len(values):
            raise FieldError(("tokens",), "the same token is listed twice")
        return self


class ServeLimits(Section):
    """Bounds that keep the server up under bad or heavy load."""

    max_body_bytes: int = Field(
        default=8 * 2**20, ge=1, description="Larger request bodies get 413."
    )
    max_rows: int = Field(default=10_000, ge=1, description="Rows per request; more get 413.")
    timeout_ms: int = Field(
        default=5_000, ge=1, description="Deadline of a request; past it the answer is 504."
    )
    max_queue: int = Field(default=1_024, ge=1, description="Requests waiting; more get 503.")


class PredictionLogConfig(Section):
    """The log of requests and predictions that monitoring reads."""

    enabled: bool = Field(default=True, description="Log predictions.")
    path: Location | None = Field(
        default=None, description="Folder or URL; None: <root>/.shipyard/predictions."
    )
    queue_size: int = Field(
        default=10_000, ge=1, description="Rows buffered for the writer; more are dropped, counted."
    )
    retention: Duration | None = Field(
        default="30d",
        description="Closed files older than this are deleted (e.g. '30d'); None: kept forever.",
    )
    max_bytes: int | None = Field(
        default=None,
        ge=1,
        description="Size the folder's files may reach; the oldest go first. None: no limit.",
    )


class ServeConfig(Section):
    """The HTTP model server."""

    host: str = Field(
        default="127.0.0.1", min_length=1, description="Interface; 0.0.0.0 opens it to the network."
    )
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port.")
    workers: int = Field(default=1, ge=1, description="Server processes.")
    grace_period_s: float = Field(
        default=30.0,
        gt=0,
        description="On SIGTERM, how long in-flight requests may take before the server exits.",
    )
    max_batch_size: int = Field(
        default=64, ge=1, description="Most requests combined into one model call."
    )
    max_wait_ms: float = Field(default=5.0, ge=0, description="Longest wait for a batch to fill.")
    limits: ServeLimits = Field(default_factory=ServeLimits, description="Request limits.")
    traffic: list[TrafficRoute] = Field(
        default_factory=list, description="Models and their shares; empty: <model_name>@production."
    )
    shadow: list[ModelRef] = Field(
        default_factory=list, description="Models sent a copy of each request, answers discarded."
    )
    auth: ServeAuth = Field(default_factory=ServeAuth, description="Authentication.")
    log: PredictionLogConfig = Field(
        default_factory=PredictionLogConfig, description="Prediction log."
    )

    # json_schema_input_type: the schema shows the short forms the validators accept.
    @field_validator(
        "traffic", mode="before", json_schema_input_type=list[TrafficRoute] | dict[str, float]
    )
    @classmethod
    def _traffic_map(cls, value: Any) -> Any:
        # The short form {"name:3": 90, "name:4": 10}.
        if isinstance(value, dict):
            return [{"ref": ref, "weight": weight} for ref, weight in value.items()]
        return value

    @field_validator("shadow", mode="before", json_schema_input_type=list[str] | str)
    @classmethod
    def _one_shadow(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> ServeConfig:
        if self.max_wait_ms >= self.limits.timeout_ms:
            raise FieldError(
                ("max_wait_ms",),
                f"max_wait_ms={self.max_wait_ms:g} must be below"
                f" limits.timeout_ms={self.limits.timeout_ms}",
            )
        refs = [route.ref for route in self.traffic]
        for ref in duplicates(refs):
            raise FieldError(("traffic",), f"ref {ref!r} is listed twice")
        if self.traffic and not any(route.weight > 0 for route in self.traffic):
            raise FieldError(("traffic",), "at least one weight must be above 0")
        for index, ref in enumerate(self.shadow):
            if ref in refs:
                raise FieldError(("shadow", index), f"ref {ref!r} is in traffic and in shadow")
        return self


# -- monitor ------------------------------------------------------------------------------


class MonitorWindow(Section):
    """How predictions are grouped for comparison: by time or by row count."""

    time: Duration | None = Field(
        default=None, description="Window length, e.g. '1h'; '1h' unless rows is set."
    )
    rows: int | None = Field(default=None, ge=1, description="Rows per window.")

    @model_validator(mode="after")
    def _check(self) -> MonitorWindow:
        if self.time is not None and self.rows is not None:
            raise FieldError(("rows",), f"give time={self.time!r} or rows={self.rows}, not both")
        if self.time is None and self.rows is None:
            self.time = "1h"
        return self

    @property
    def duration(self) -> timedelta | None:
        """The window's length, or None for a window of rows."""
        return parse_duration(self.time) if self.time else None


class AlertConfig(Section):
    """A condition on a monitored metric and what to do when it holds."""

    metric: str = Field(
        min_length=1, description="e.g. 'psi:dep_delay', 'accuracy', 'latency_p99_ms'."
    )
    threshold: float = Field(description="Value the metric is compared with.")
    when: Literal["above", "below"] = Field(
        default="above", description="Alert when the metric is above or below the threshold."
    )
    windows: int = Field(default=1, ge=1, description="Consecutive windows it must hold for.")
    action: Literal["log", "webhook", "retrain"] = Field(
        default="log", description="What an alert does."
    )
    url: str | None = Field(default=None, description="http(s) URL posted to (action webhook).")
    alias: str | None = Field(
        default=None,
        min_length=1,
        description="Alias a blessed retrained model moves to (action retrain); None: register.alias.",
    )

    @model_validator(mode="after")
    def _check(self) -> AlertConfig:
        if self.alias is not None and self.action != "retrain":
            raise FieldError(("alias",), f"alias needs action 'retrain'; action is {self.action!r}")
        if self.action == "webhook" and self.url is None:
            raise FieldError(("action",), "action 'webhook' needs a url")
        if self.url is not None and self.action != "webhook":
            raise FieldError(("url",), f"url needs action 'webhook'; action is {self.action!r}")
        parts = urlsplit(self.url or "")
        if self.url is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise FieldError(("url",), "expected an http:// or https:// URL with a host")
        return self


class InvarianceProbe(Section):
    """Changing this column must not change the prediction."""

    name: str | None = Field(default=None, description="Probe name in reports.")
    column: str = Field(description="Column changed.")
    values: list[Any] = Field(
        default_factory=list, description="Values tried; empty: values seen in the window."
    )
    tolerance: float = Field(default=1e-6, ge=0, description="Largest allowed change.")


class DirectionalProbe(Section):
    """Moving this column must move the prediction one way."""

    name: str | None = Field(default=None, description="Probe name in reports.")
    column: str = Field(description="Numeric column changed.")
    delta: float = Field(description="Amount added to the column.")
    expect: Literal["increase", "decrease"] = Field(description="How the prediction must move.")
    tolerance: float = Field(default=0.0, ge=0, description="Allowed move the wrong way.")

    @model_validator(mode="after")
    def _check(self) -> DirectionalProbe:
        if self.delta == 0:
            raise FieldError(("delta",), "delta must not be 0")
        return self


class FixedCase(Section):
    """A hand-written row and the prediction it must get."""

    name: str | None = Field(default=None, description="Case name in reports.")
    input: dict[str, Any] = Field(min_length=1, description="Feature values of the row.")
    expect: Any = Field(default=None, description="Exact expected prediction (a label).")
    min: float | None = Field(
        default=None, description="The prediction (or positive-class score) is at least this."
    )
    max: float | None = Field(
        default=None, description="The prediction (or positive-class score) is at most this."
    )

    @model_validator(mode="after")
    def _check(self) -> FixedCase:
        if self.expect is None and self.min is None and self.max is None:
            raise ValueError("a fixed case needs expect, min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldError(("min",), f"min={self.min} is above max={self.max}")
        return self


class ProbesConfig(Section):
    """Behavioural tests of the served model, run on each window."""

    rows: int = Field(
        default=200, ge=1, description="Rows sampled for invariance and directional probes."
    )
    invariance: list[InvarianceProbe] = Field(default_factory=list, description="Invariance.")
    directional: list[DirectionalProbe] = Field(default_factory=list, description="Directional.")
    fixed: list[FixedCase] = Field(default_factory=list, description="Fixed cases.")


class MonitorConfig(Section):
    """Drift and quality monitoring of the served model."""

    model: ModelRef | None = Field(
        default=None, description="Model watched; None: <model_name>@production."
    )
    window: MonitorWindow = Field(default_factory=MonitorWindow, description="Windows.")
    alerts: list[AlertConfig] = Field(default_factory=list, description="Alerts.")
    probes: ProbesConfig = Field(default_factory=ProbesConfig, description="Probes.")
    schedule: Schedule | None = Field(
        default=None, description="Run every duration ('15m') or on a cron line; None: on demand."
    )
    allow_link_local_webhooks: bool = Field(
        default=False,
        description="Allow webhooks to 169.254.0.0/16 and fe80::/10 (cloud metadata).",
    )

    @model_validator(mode="after")
    def _check(self) -> MonitorConfig:
        for index, alert in enumerate(self.alerts):
            host = urlsplit(alert.url or "").hostname or ""
            try:
                link_local = ipaddress.ip_address(host).is_link_local
            except ValueError:  # a host name: the monitor checks its addresses when posting
                link_local = False
            if link_local and not self.allow_link_local_webhooks:
                raise FieldError(
                    ("alerts", index, "url"),
                    f"webhook host {host} is link-local; set allow_link_local_webhooks to allow it",
                )
        return self
