"""POST a JSON body to a webhook, with retries, and without following it where it must not go.

RELIABILITY 7: ``file://`` and other schemes are refused by the config; here
the host's addresses are resolved and a link-local one (169.254.0.0/16,
fe80::/10: a cloud's metadata service) is refused unless allowed. Redirects
are not followed (one could lead there). Credentials in the URL never reach a
log or the recorded detail (RELIABILITY 29).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["WebhookOutcome", "mask_url", "post_json"]

log = logging.getLogger("shipyard.monitor")


@dataclass
class WebhookOutcome:
    """What happened: ``ok``, the attempts made, the last HTTP status or error."""

    url: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None

    def detail(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "error": self.error}


def mask_url(url: str) -> str:
    """The URL with any user:password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer, not an invitation


def _check_host(url: str, allow_link_local: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook URL must be http(s) with a host, got {mask_url(url)!r}")
    if allow_link_local:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for info in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP):
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address.is_link_local:
            raise ValueError(
                f"webhook host {parts.hostname} resolves to link-local {address};"
                " set monitor.allow_link_local_webhooks to allow it"
            )


def post_json(
    url: str,
    body: dict[str, Any],
    *,
    attempts: int = 3,
    backoff_s: float = 0.5,
    timeout_s: float = 5.0,
    allow_link_local: bool = False,
) -> WebhookOutcome:
    """POST ``body`` as JSON; retry on connection errors and 5xx, ``attempts`` times in all.

    Never raises: the outcome says what happened.
    """
    shown = mask_url(url)
    try:
        _check_host(url, allow_link_local)
    except (ValueError, OSError) as exc:
        log.warning("webhook %s refused: %s", shown, exc)
        return WebhookOutcome(shown, False, 0, error=str(exc))
    data = json.dumps(body, default=str).encode()
    opener = urllib.request.build_opener(_NoRedirect)
    outcome = WebhookOutcome(shown, False, 0)
    for attempt in range(1, attempts + 1):
        outcome.attempts = attempt
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "shipyard-monitor"},
        )
        try:
            with opener.open(request, timeout=timeout_s) as response:
                outcome.status, outcome.error = response.status, None
                outcome.ok = 200 <= response.status < 300
                return outcome
        except urllib.error.HTTPError as exc:
            outcome.status, outcome.error = exc.code, f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                break  # the receiver refused this body: sending it again changes nothing
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            outcome.status, outcome.error = None, f"{type(exc).__name__}: {reason}"
        log.warning("webhook %s attempt %d failed: %s", shown, attempt, outcome.error)
        if attempt < attempts:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    return outcome
