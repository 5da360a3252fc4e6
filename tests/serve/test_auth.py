"""Bearer tokens (RELIABILITY 3, 8): every route has a rule, and a real server enforces it.

The server runs ``shipyard serve --bundle`` in a project whose ``serve.auth``
lists an inference token, reads an admin token from a file and a token of
both scopes from an environment variable, and opens ``/docs``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.serve._auth import OPENABLE, RULES

from ..conftest import cli
from .conftest import Bundles, Server, start_server, stop_server

INFER = "infer-token-0123456789"
ADMIN = "admin-token-0123456789"
BOTH = "both-token-0123456789a"
WRONG = {"infer": ADMIN, "admin": INFER}  # a valid token without the needed scope
RIGHT = {"infer": INFER, "admin": ADMIN}

AUTH_YAML = f"""\
project:
  name: authed
serve:
  auth:
    enabled: true
    tokens:
      - token: {INFER}
        scopes: [inference]  # the scope's first name, a synonym of infer
    tokens_file: admin.tokens
    tokens_env: SHIPYARD_TEST_TOKENS
    open_routes: [/docs]
"""


@pytest.fixture(scope="module")
def auth_server(bundles: Bundles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("authed")
    (root / "shipyard.yaml").write_text(AUTH_YAML)
    (root / "admin.tokens").write_text(f"# admin only\n{ADMIN} admin\n")
    os.environ["SHIPYARD_TEST_TOKENS"] = f"{BOTH} infer,admin"
    try:
        url, proc = start_server(["--bundle", str(bundles.cancer)], root, root / "server.log")
    finally:
        del os.environ["SHIPYARD_TEST_TOKENS"]
    server = Server(url, root / "server.log")
    try:
        yield server
    finally:
        server.close_clients()
        stop_server(proc)


def _app_routes(bundles: Bundles) -> list[tuple[str, set[str]]]:
    from shipyard.bundle import load_bundle
    from shipyard.serve import ServedModel, create_app

    app = create_app([ServedModel(load_bundle(bundles.cancer), "1")], auth_tokens=[])
    return [(route.path, set(route.methods or ())) for route in app.routes]  # type: ignore[attr-defined]


def test_every_route_has_an_auth_rule(bundles: Bundles) -> None:
    paths = [path for path, _ in _app_routes(bundles)]
    missing = [p for p in paths if p not in RULES]
    assert not missing, f"routes without a rule in shipyard.serve._auth.RULES: {missing}"
    assert set(RULES) == set(paths), "RULES names a route the app does not have"
    assert set(OPENABLE) <= set(paths)
    health = {"/v2/health/live", "/v2/health/ready", "/ping", "/health"}
    assert {p for p, rule in RULES.items() if rule is None} == health
    assert {rule for rule in RULES.values()} == {None, "infer", "admin"}


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def test_every_route_and_method_with_no_wrong_and_right_token(
    bundles: Bundles, auth_server: Server
) -> None:
    client = auth_server.client()
    _, h, _ = client.request("GET", "/v2/models/cancer", headers=_auth(INFER))
    version = h["x-shipyard-model-version"]
    for template, methods in _app_routes(bundles):
        path = template.replace("{name}", "cancer").replace("{version}", version)
        rule = None if template == "/docs" else RULES[template]  # /docs is opened in config
        for method in sorted(methods - {"HEAD"} | {"DELETE", "PATCH", "PUT"}):
            where = f"{method} {path}"
            status, h, _ = client.request(method, path, b"{}", {"Content-Type": "application/json"})
            if rule is None:
                assert status not in (401, 403), where
                continue
            assert status == 401, where
            assert h["www-authenticate"].startswith("Bearer"), where
            status, _, _ = client.request(method, path, b"{}", _auth(WRONG[rule]))
            assert status == 403, where
            for token in (RIGHT[rule], BOTH):
                status, _, _ = client.request(method, path, b"{}", _auth(token))
                assert status not in (401, 403), f"{where} -> {status}"


def test_health_open_and_predictions_need_the_inference_scope(
    bundles: Bundles, auth_server: Server
) -> None:
    client = auth_server.client()
    for path in ("/v2/health/live", "/v2/health/ready", "/ping", "/health"):
        assert client.get(path)[0] == 200, path
    row = bundles.rows.slice(0, 2).to_pylist()
    status, h, _ = client.post_json("/predict", {"records": row})
    assert status == 401 and h["www-authenticate"].startswith("Bearer")
    assert client.post_json("/predict", {"records": row}, _auth(ADMIN))[0] == 403
    status, h, body = client.post_json("/predict", {"records": row}, _auth(INFER))
    assert status == 200 and len(body["predictions"]) == 2, body
    # Not a bearer token, or a token not configured: 401.
    for header in (f"Basic {INFER}", f"Bearer {INFER}x", "Bearer ", f"bearer{INFER}"):
        headers = {"Authorization": header}
        assert client.post_json("/predict", {"records": row}, headers)[0] == 401, header
    # Admin routes refuse an inference token; /metrics needs admin, /docs is opened.
    assert client.request("GET", "/metrics", headers=_auth(INFER))[0] == 403
    assert client.request("GET", "/metrics", headers=_auth(ADMIN))[0] == 200
    assert client.get("/docs")[0] == 200
    assert client.get("/openapi.json")[0] == 401
    # A path no route matches tells a stranger nothing.
    assert client.get("/nope")[0] == 401
    assert client.request("GET", "/nope", headers=_auth(INFER))[0] == 404


def test_auth_without_tokens_refuses_to_start(bundles: Bundles, tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text(
        "project:\n  name: x\nserve:\n  auth:\n    enabled: true\n    tokens_env: SHIPYARD_NO_SUCH_VAR\n"
    )
    r = cli("serve", "--bundle", str(bundles.cancer), cwd=tmp_path, timeout=60)
    assert r.returncode != 0 and "SHIPYARD_NO_SUCH_VAR" in r.stdout + r.stderr
    (tmp_path / "shipyard.yaml").write_text(
        "project:\n  name: x\nserve:\n  auth:\n    enabled: true\n"
    )
    r = cli("serve", "--bundle", str(bundles.cancer), cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and "tokens" in r.stdout + r.stderr


def test_the_token_file_is_checked(tmp_path: Path) -> None:
    from shipyard.errors import ConfigError
    from shipyard.serve._auth import parse_tokens

    assert parse_tokens(f"{ADMIN} admin,infer\n\n# c\n{INFER}", "f") == [
        (ADMIN, ["admin", "infer"]),
        (INFER, ["infer"]),
    ]
    # ``inference``, the scope's first name, still means infer.
    assert parse_tokens(f"{ADMIN} inference,infer,admin", "f") == [(ADMIN, ["infer", "admin"])]
    for bad in ("short admin", f"{ADMIN} root", f"{ADMIN} admin extra"):
        with pytest.raises(ConfigError, match="f, line 1"):
            parse_tokens(bad, "f")
