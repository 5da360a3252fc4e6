"""Bearer-token authentication: a rule for every route and tokens compared in constant time.

``RULES`` maps each route's path to the scope it needs: ``None`` for the
health routes (always open), ``"infer"`` or ``"admin"``. The rule is
chosen by path alone, before routing, so an unknown method on a known route
(DELETE, PATCH) is refused like any other request without a token; paths
that match no route need a valid token too, so 404s tell nothing to
strangers. A test fails when a route of the app has no rule here.

The inference scope is named ``infer`` (issue 6); ``inference``, its first
name, is still accepted in token files and config and means the same.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ConfigError

__all__ = ["OPENABLE", "RULES", "SCOPES", "AuthMiddleware", "load_tokens", "scope_names"]

Scopes = frozenset[str]

# Route path -> scope needed (None: open to all). Every route of create_app is listed.
RULES: dict[str, str | None] = {
    "/v2/health/live": None,
    "/v2/health/ready": None,
    "/ping": None,
    "/health": None,
    "/v2": "infer",
    "/v2/models/{name}": "infer",
    "/v2/models/{name}/versions/{version}": "infer",
    "/v2/models/{name}/ready": "infer",
    "/v2/models/{name}/versions/{version}/ready": "infer",
    "/v2/models/{name}/infer": "infer",
    "/v2/models/{name}/versions/{version}/infer": "infer",
    "/version": "infer",
    "/invocations": "infer",
    "/models/{name}/invocations": "infer",
    "/predict": "infer",
    "/models/{name}/predict": "infer",
    "/metrics": "admin",
    "/openapi.json": "infer",
    "/docs": "infer",
}
# Routes that ``serve.auth.open_routes`` may open to requests without a token.
OPENABLE = ("/metrics", "/docs", "/openapi.json")
SCOPES = ("infer", "admin")
# Older names of a scope, still accepted.
SYNONYMS = {"inference": "infer"}


def scope_names(scopes: Iterable[str]) -> list[str]:
    """Scopes with their synonyms replaced by the documented names (order kept, no repeats)."""
    out: list[str] = []
    for scope in scopes:
        name = SYNONYMS.get(scope, scope)
        if name not in out:
            out.append(name)
    return out


def parse_tokens(text: str, origin: str) -> list[tuple[str, list[str]]]:
    """Lines ``TOKEN [SCOPE,SCOPE]`` (default scope infer; ``#`` starts a comment)."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        scopes = parts[1].split(",") if len(parts) > 1 else ["infer"]
        bad = [s for s in scopes if s not in SCOPES and s not in SYNONYMS]
        if len(parts) > 2 or bad or len(parts[0]) < 16:
            raise ConfigError(
                f"{origin}, line {number}: expected 'TOKEN [infer,admin]' with a token of"
                " 16+ characters"
            )
        out.append((parts[0], scope_names(scopes)))
    return out


def load_tokens(auth: Any) -> list[tuple[str, list[str]]]:
    """The tokens of a :class:`shipyard.config.ServeAuth`: listed, from its file and its variable.

    Raises
    ------
    ConfigError
        When a token line is malformed, the variable is unset, or auth is on with no token.
    """
    tokens = [(t.token.get_secret_value(), scope_names(t.scopes)) for t in auth.tokens]
    if auth.tokens_file is not None:
        path = Path(auth.tokens_file)
        tokens += parse_tokens(path.read_text(), str(path))
    if auth.tokens_env is not None:
        value = os.environ.get(auth.tokens_env)
        if value is None:
            raise ConfigError(f"serve.auth.tokens_env: variable {auth.tokens_env} is not set")
        tokens += parse_tokens(value.replace(";", "\n"), f"${auth.tokens_env}")
    if auth.enabled and not tokens:
        raise ConfigError("serve.auth.enabled=true but no token was found")
    return tokens


class AuthMiddleware:
    """ASGI middleware: 401 without a valid token, 403 with one lacking the route's scope."""

    def __init__(
        self,
        app: ASGIApp,
        routes: list[Any],
        tokens: Iterable[tuple[str, Iterable[str]]],
        open_routes: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.tokens = [(token.encode(), frozenset(scope_names(scopes))) for token, scopes in tokens]
        opened = set(open_routes)
        self.routes = [(r, None if r.path in opened else RULES[r.path]) for r in routes]

    def _rule(self, scope: Scope) -> str | None:
        for route, needed in self.routes:
            if route.matches(scope)[0] != Match.NONE:
                return needed
        return "infer"

    def _scopes(self, header: bytes) -> Scopes | None:
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer" or not given:
            return None
        given = given.strip()
        found: Scopes | None = None
        # Compare with every token, matched or not, so the timing does not tell which.
        for token, scopes in self.tokens:
            if hmac.compare_digest(token, given):
                found = scopes
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = self._rule(scope)
        if needed is None:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        scopes = self._scopes(header)
        if scopes is None:
            await _deny(send, 401, "a valid bearer token is needed", b'Bearer realm="shipyard"')
        elif needed not in scopes:
            await _deny(
                send,
                403,
                f"this token lacks the {needed!r} scope",
                b'Bearer error="insufficient_scope"',
            )
        else:
            await self.app(scope, receive, send)


async def _deny(send: Send, status: int, message: str, challenge: bytes) -> None:
    body = orjson.dumps({"error": message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", challenge),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
