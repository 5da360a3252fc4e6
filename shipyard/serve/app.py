"""The ASGI app: every protocol on one port, over models loaded before it serves.

Each inference request is admitted (or 503 when the worker is at its
concurrency limit), read within the size limit, decoded by its protocol,
checked against the signature, batched with concurrent requests to the same
model, and answered with the version that produced it. Bad input is a 4xx
with a message naming the problem; anything else is a 500 with a generic
message and the request id (the details go to the server log only).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pyarrow as pa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .. import __version__
from ..errors import RequestError
from . import _mlflow, _v2
from ._auth import AuthMiddleware
from ._batch import Batcher
from ._http import check_media, json_body, json_response, read_body
from ._log import PredictionLog
from ._metrics import CONTENT_TYPE_LATEST, Metrics
from ._model import ServedModel
from ._openapi import docs_page, openapi
from ._shutdown import DRAIN_KEY
from ._signature import Checked

__all__ = ["ServeSettings", "create_app"]

access_log = logging.getLogger("shipyard.serve.access")
log = logging.getLogger("shipyard.serve")

Handler = Callable[[Request, ServedModel, Batcher], Awaitable[Response]]
Slot = tuple[str, str, int]  # role (primary, traffic, shadow), model name, index in traffic
_RID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


class ServeSettings:
    """The parts of the ``serve`` config a worker needs (plain values, no pydantic).

    Parameters mirror :class:`shipyard.config.ServeConfig` and its ``limits``.
    """

    def __init__(
        self,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        max_body_bytes: int = 8 * 2**20,
        max_rows: int = 10_000,
        timeout_ms: int = 5_000,
        max_queue: int = 1_024,
    ) -> None:
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self.max_body_bytes = max_body_bytes
        self.max_rows = max_rows
        self.timeout_ms = timeout_ms
        self.max_queue = max_queue

    @classmethod
    def from_config(cls, serve: Any) -> ServeSettings:
        """From a :class:`shipyard.config.ServeConfig`."""
        limits = serve.limits
        return cls(
            max_batch_size=serve.max_batch_size,
            max_wait_ms=serve.max_wait_ms,
            max_body_bytes=limits.max_body_bytes,
            max_rows=limits.max_rows,
            timeout_ms=limits.timeout_ms,
            max_queue=limits.max_queue,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _error(protocol: str, status: int, message: str) -> dict[str, Any]:
    if protocol == "mlflow":
        code = {404: "RESOURCE_DOES_NOT_EXIST", 500: "INTERNAL_ERROR"}.get(status, "BAD_REQUEST")
        return {"error_code": code, "message": message}
    return {"error": message}


class _Server:
    def __init__(
        self,
        models: list[ServedModel],
        settings: ServeSettings,
        weights: list[float | None] | None = None,
        shadows: list[ServedModel] | None = None,
    ) -> None:
        if not models:
            raise ValueError("serve at least one model")
        weights = weights or [None] * len(models)
        # The first model of a name is its primary; later ones of that name are canaries.
        self.models: dict[str, ServedModel] = {}
        for m in models:
            self.models.setdefault(m.name, m)
        self.default_name = models[0].name
        self.settings = settings
        self.metrics = Metrics()
        self.batchers = {m.name: self._batcher(m) for m in self.models.values()}
        self.shadows = {m.name: (m, self._batcher(m)) for m in shadows or []}
        self.shadow_tasks: set[asyncio.Task[None]] = set()
        self.splits: dict[str, list[tuple[float, ServedModel, Batcher]]] = {}
        for name in self.models:
            pairs = [(w, m) for w, m in zip(weights, models, strict=True) if m.name == name]
            if len(pairs) > 1:
                total = sum(w or 0.0 for w, _ in pairs)
                edge, split = 0.0, []
                for w, m in pairs:
                    edge += (w or 0.0) / total
                    batcher = self.batchers[name] if m is self.models[name] else self._batcher(m)
                    split.append((edge, m, batcher))
                self.splits[name] = split
        self.in_flight = 0
        self.ready = False
        self.draining = False
        self.prediction_log: PredictionLog | None = None
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid():x}-{int(time.time()) & 0xFFFFFF:x}-"

    def start(self) -> None:
        """Drain (on SIGTERM): readiness false, new inference requests 503, in-flight ones finish."""
        self.ready = False
        self.draining = True

    @property
    def idle(self) -> bool:
        """True when no inference request is being answered."""
        return self.in_flight == 0

    def served(self, slot: Slot) -> ServedModel:
        """The model serving a slot: ``("primary", name, 0)``, ``("traffic", name, i)``
        (the i-th version of ``serve.traffic`` for that name) or ``("shadow", name, 0)``."""
        role, name, index = slot
        if role == "traffic":
            return self.splits[name][index][1]
        if role == "shadow":
            return self.shadows[name][0]
        return self.models[name]

    def swap(self, model: ServedModel, slot: Slot | None = None) -> Batcher:
        """Serve ``model`` in a slot (default: its name's primary); return the old batcher.

        Model and batcher change together with no ``await`` between: a request
        sees either the old pair or the new one, and requests already queued
        finish on the old version. A traffic version that is its name's
        primary (the heaviest) changes the primary too.
        """
        role, name, index = slot or ("primary", model.name, 0)
        old_model = self.served((role, name, index))
        batcher = self._batcher(model)
        if role == "shadow":
            old = self.shadows[name][1]
            self.shadows[name] = (model, batcher)
            return old
        split = self.splits.get(name)
        if role == "traffic" and split is not None:
            edge, _, old = split[index]
            self.splits[name] = [*split[:index], (edge, model, batcher), *split[index + 1 :]]
            if self.models[name] is not old_model:
                return old
        old = self.batchers[name]
        self.batchers[name] = batcher
        self.models[name] = model
        return old

    def _batcher(self, model: ServedModel) -> Batcher:
        sizes = self.metrics.batch_size.labels(model.name)
        depth = self.metrics.queue_depth.labels(model.name)

        def observe(batch: int, queued: int) -> None:
            sizes.observe(batch)
            depth.set(queued)

        return Batcher(
            model,
            max_batch_size=self.settings.max_batch_size,
            max_wait_s=self.settings.max_wait_ms / 1000,
            max_rows=self.settings.max_rows,
            observe=observe,
        )

    def _request_id(self, request: Request) -> str:
        given = request.headers.get("x-request-id")
        if given and len(given) <= 128 and _RID_CHARS.issuperset(given):
            return given
        return f"{self._prefix}{next(self._ids)}"

    def _model(self, request: Request, pick: bool = False) -> ServedModel:
        """The model a request names; with ``pick``, a canary by weight when no version is named."""
        params = request.path_params
        name = params.get("name", self.default_name)
        model = self.models.get(name)
        if model is None:
            raise RequestError(f"unknown model; served: {', '.join(self.models)}", 404)
        version = params.get("version")
        split = self.splits.get(model.name)
        if split is not None:
            if version is not None:
                for _, m, _ in split:
                    if m.version == version:
                        return m
                served = ", ".join(m.version for _, m, _ in split)
                raise RequestError(f"model {model.name!r} serves versions {served} only", 404)
            if pick:
                return self._pick(split, request.headers.get("x-shipyard-key"))[0]
        if version is not None and version != model.version:
            raise RequestError(f"model {model.name!r} serves version {model.version} only", 404)
        return model

    @staticmethod
    def _pick(
        split: list[tuple[float, ServedModel, Batcher]], key: str | None
    ) -> tuple[ServedModel, Batcher]:
        """A version by weight: sticky by the hash of ``key`` when given, else at random."""
        if key is None:
            point = random.random()  # noqa: S311 - a traffic split, not a secret
        else:
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            point = int.from_bytes(digest, "big") / 2**64
        for edge, model, batcher in split:
            if point < edge:
                return model, batcher
        return split[-1][1], split[-1][2]

    def batcher_of(self, model: ServedModel) -> Batcher:
        """The batcher of a served model, primary or canary."""
        for _, m, batcher in self.splits.get(model.name, ()):
            if m is model:
                return batcher
        return self.batchers[model.name]

    def inference(
        self, protocol: str, handler: Handler
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            start = time.perf_counter()
            rid = self._request_id(request)
            model: ServedModel | None = None
            if self.draining:
                # Shutting down: answer at once, and close the connection so that
                # the client's next request goes to another instance.
                response = json_response(
                    _error(protocol, 503, "the server is shutting down; retry"),
                    503,
                    {"Retry-After": "1", "Connection": "close"},
                )
            elif self.in_flight >= self.settings.max_queue:
                self.metrics.rejected.inc()
                response = json_response(
                    _error(protocol, 503, "the server is at its concurrency limit; retry"),
                    503,
                    {"Retry-After": "1"},
                )
            else:
                self.in_flight += 1
                self.metrics.in_flight.inc()
                batcher = None
                error: BaseException | None = None
                try:
                    model = self._model(request, pick=True)
                    batcher = self.batcher_of(model)
                    batcher.arriving += 1
                    response = await handler(request, model, batcher)
                except RequestError as exc:
                    error = exc
                    response = json_response(_error(protocol, exc.status, str(exc)), exc.status)
                except Exception as exc:
                    error = exc
                    log.exception("request %s failed", rid)
                    response = json_response(
                        _error(protocol, 500, f"internal error (request id {rid})"), 500
                    )
                finally:
                    if (
                        batcher is not None
                        and batcher.arriving > 0
                        and not hasattr(request.state, "submitted")
                    ):
                        batcher.arriving -= 1
                    self.in_flight -= 1
                    self.metrics.in_flight.dec()
            response.headers["X-Request-Id"] = rid
            if response.status_code == 200:
                self.mirror(request, rid)
            name, version = ("", "")
            if model is not None:
                name, version = model.name, model.version
                response.headers["X-Shipyard-Model-Version"] = version
            seconds = time.perf_counter() - start
            if self.prediction_log is not None and model is not None:
                logged = getattr(request.state, "logged", None)
                if logged is not None and response.status_code == 200:
                    self.prediction_log.answered(
                        model,
                        rid,
                        logged[0],
                        logged[1],
                        seconds * 1000,
                        keys=getattr(request.state, "keys", None),
                    )
                elif response.status_code >= 400:
                    exc_ = error if error is not None else RequestError("refused", 503)
                    self.prediction_log.refused(
                        model, rid, response.status_code, exc_, seconds * 1000
                    )
            self.metrics.requests.labels(name, version, str(response.status_code)).inc()
            self.metrics.duration.labels(name, protocol).observe(seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    orjson.dumps(
                        {
                            "request_id": rid,
                            "method": request.method,
                            "path": request.url.path,
                            "status": response.status_code,
                            "ms": round(seconds * 1000, 3),
                            "model": name,
                            "version": version,
                        }
                    ).decode()
                )
            return response

        return endpoint

    async def predict(
        self,
        request: Request,
        batcher: Batcher,
        columns: Checked,
        rows: int,
    ) -> pa.Table:
        """Run checked columns through the model's batcher (zero rows skip the model)."""
        request.state.submitted = True
        batcher.arriving -= 1
        if rows > self.settings.max_rows:
            raise RequestError(
                f"a batch of {rows:,} rows is over the limit of {self.settings.max_rows:,} rows"
                " (limits.max_rows)",
                413,
            )
        if rows == 0:
            return batcher.model.empty()
        deadline = time.monotonic() + self.settings.timeout_ms / 1000
        table = await batcher.submit(columns, rows, deadline)
        if self.prediction_log is not None:
            request.state.logged = (columns, table)
        if batcher.model.name in self.shadows:
            request.state.shadow = (batcher.model, columns, rows, table)
        return table

    def mirror(self, request: Request, rid: str) -> None:
        """Send an answered request to its model's shadow, after the answer; compare, count."""
        answered = getattr(request.state, "shadow", None)
        if answered is None:
            return
        primary, columns, rows, table = answered
        shadow, batcher = self.shadows[primary.name]
        counter = self.metrics.shadow
        if len(self.shadow_tasks) >= self.settings.max_queue:
            counter.labels(shadow.name, shadow.version, "skipped").inc()
            return

        async def run() -> None:
            try:
                mine, theirs = shadow.signature, primary.signature
                if mine.names != theirs.names or mine.types != theirs.types:
                    # Columns checked for another signature would give the shadow garbage.
                    raise RequestError("the shadow's input signature differs from the primary's")
                deadline = time.monotonic() + self.settings.timeout_ms / 1000
                start = time.perf_counter()
                got = await batcher.submit(columns, rows, deadline)
                agrees = _row_agreement(got, table)
                outcome = "agree" if all(agrees.to_pylist()) else "disagree"
                if self.prediction_log is not None:
                    ms = (time.perf_counter() - start) * 1000
                    self.prediction_log.answered(shadow, rid, columns, got, ms, agrees=agrees)
            except Exception:
                # A failing shadow is counted and logged; the answer went out already.
                log.warning("shadow %s:%s failed on request %s", shadow.name, shadow.version, rid)
                outcome = "error"
            counter.labels(shadow.name, shadow.version, outcome).inc()

        task = asyncio.ensure_future(run())
        self.shadow_tasks.add(task)
        task.add_done_callback(self.shadow_tasks.discard)

    # -- protocols ------------------------------------------------------------------

    async def v2_infer(self, request: Request, model: ServedModel, batcher: Batcher) -> Response:
        header_length = request.headers.get("inference-header-content-length")
        accepted = ("application/json", "application/octet-stream")
        check_media(request, accepted)
        body = await read_body(request, self.settings.max_body_bytes)
        columns, rows, header = _v2.decode_request(model, body, header_length)
        _v2.check_outputs(model, header)
        table = await self.predict(request, batcher, columns, rows)
        content, headers = _v2.encode_response(model, table, header)
        media = "application/octet-stream" if headers else "application/json"
        return Response(content, headers=headers, media_type=media)

    async def invocations(self, request: Request, model: ServedModel, batcher: Batcher) -> Response:
        kind = check_media(request, ("application/json", "text/csv"))
        body = await read_body(request, self.settings.max_body_bytes)
        if kind == "text/csv":
            columns, rows = _mlflow.decode_csv(model.signature, body)
        else:
            payload = json_body(body)
            request.state.keys = _take_keys(model, payload)
            columns, rows = _mlflow.decode_invocations(model.signature, payload)
        table = await self.predict(request, batcher, columns, rows)
        return json_response({"predictions": _mlflow.records(table)})

    async def plain(self, request: Request, model: ServedModel, batcher: Batcher) -> Response:
        check_media(request, ("application/json",))
        body = await read_body(request, self.settings.max_body_bytes)
        payload = json_body(body)
        request.state.keys = _take_keys(model, payload)
        columns, rows = _mlflow.decode_predict(model.signature, payload)
        table = await self.predict(request, batcher, columns, rows)
        return json_response(
            {
                "model": model.name,
                "model_version": model.version,
                "predictions": _mlflow.records(table),
            }
        )

    # -- metadata, health -----------------------------------------------------------

    async def server_metadata(self, request: Request) -> Response:
        return json_response(
            {"name": "shipyard", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    async def live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def server_ready(self, request: Request) -> Response:
        return json_response({"ready": self.ready}, 200 if self.ready else 503)

    async def model_metadata(self, request: Request) -> Response:
        try:
            model = self._model(request)
        except RequestError as exc:
            return json_response({"error": str(exc)}, exc.status)
        return json_response(
            _v2.model_metadata(model), headers={"X-Shipyard-Model-Version": model.version}
        )

    async def model_ready(self, request: Request) -> Response:
        try:
            model = self._model(request)
        except RequestError as exc:
            return json_response({"error": str(exc)}, exc.status)
        return json_response(
            {"name": model.name, "ready": self.ready},
            200 if self.ready else 503,
            {"X-Shipyard-Model-Version": model.version},
        )

    async def ping(self, request: Request) -> Response:
        status = 200 if self.ready else 503
        return Response(b"\n", status, media_type="text/plain")

    async def version(self, request: Request) -> Response:
        return Response(__version__.encode(), media_type="text/plain")

    async def metrics_route(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def openapi_route(self, request: Request) -> Response:
        return json_response(openapi(list(self.models.values())))

    async def docs_route(self, request: Request) -> Response:
        return HTMLResponse(docs_page(openapi(list(self.models.values()))))


def _row_agreement(got: pa.Table, answered: pa.Table) -> pa.Array:
    """Per row, whether a shadow's outputs equal the answer's (missing on both sides agrees)."""
    n = answered.num_rows
    if got.num_rows != n or got.column_names != answered.column_names:
        return pa.array([False] * n, pa.bool_())
    same = [True] * n
    for name in answered.column_names:
        a, b = got.column(name).to_pylist(), answered.column(name).to_pylist()
        same = [s and x == y for s, x, y in zip(same, a, b, strict=True)]
    return pa.array(same, pa.bool_())


def _take_keys(model: ServedModel, payload: Any) -> list[Any] | None:
    """Take the bundle's key column out of a request's records (logged, never given to the model).

    ``/predict`` ``records`` and MLflow's ``dataframe_records`` carry it as a
    field of each record, ``dataframe_split`` as a column; when the first
    record has no key, none is taken (a record with it then names an unknown
    feature).
    """
    key = model.bundle.key
    if not key or not isinstance(payload, dict):
        return None
    records = payload.get("records", payload.get("dataframe_records"))
    if isinstance(records, list) and records and isinstance(records[0], dict):
        if key not in records[0]:
            return None
        return [r.pop(key, None) if isinstance(r, dict) else None for r in records]
    split = payload.get("dataframe_split")
    if not isinstance(split, dict):
        return None
    columns, data = split.get("columns"), split.get("data")
    if not (isinstance(columns, list) and key in columns and isinstance(data, list)):
        return None
    j = columns.index(key)
    if not all(isinstance(row, list) and len(row) == len(columns) for row in data):
        return None  # the decoder names the malformed row
    split["columns"] = columns[:j] + columns[j + 1 :]
    return [row.pop(j) for row in data]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "no such route", 405: "method not allowed on this route"}
    message = messages.get(exc.status_code, str(exc.detail))
    return json_response({"error": message}, exc.status_code, dict(exc.headers or {}))


def create_app(
    models: list[ServedModel],
    settings: ServeSettings | None = None,
    *,
    watch: dict[str, str] | dict[Slot, str] | None = None,
    root: str | None = None,
    poll_s: float = 1.0,
    threads: int = 1,
    log_dir: str | None = None,
    log_queue: int = 10_000,
    log_retention_s: float | None = None,
    log_max_bytes: int | None = None,
    auth_tokens: list[tuple[str, list[str]]] | None = None,
    open_routes: list[str] | None = None,
    weights: list[float | None] | None = None,
    shadows: list[ServedModel] | None = None,
) -> Starlette:
    """The server's ASGI app over loaded models (the first one answers ``/predict``).

    Parameters
    ----------
    models
        The models served, by name.
    settings
        Batching and limits; defaults as in :class:`shipyard.config.ServeConfig`.
    watch, root, poll_s, threads
        Hot swap: model name (or a slot, see ``_Server.served``: a traffic or
        shadow version) to the ``NAME@ALIAS`` it follows in the registry of
        the project at ``root``, polled every ``poll_s`` seconds; new versions
        are loaded with ``threads`` threads per model call.
    log_dir, log_queue
        The prediction log: its folder (None: no log) and the requests its
        queue holds before rows are dropped (counted).
    log_retention_s, log_max_bytes
        The log's closed files older than this are deleted, then the oldest
        while the folder is larger than this (None: no bound).
    auth_tokens, open_routes
        Bearer tokens and their scopes (None: no authentication), and the
        routes of :data:`~shipyard.serve._auth.OPENABLE` open without one.
    weights
        Canary: the share of each model among the models of its name (the
        first of a name is the primary); a request picks one by weight, by the
        hash of its ``X-Shipyard-Key`` header when given.
    shadows
        Models sent a copy of each answered request of their name, after the
        answer; their outputs are compared with it and counted, never returned.
    """
    server = _Server(models, settings or ServeSettings(), weights, shadows)
    s = server
    infer = s.inference

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        task = watcher = None
        if watch and root is not None:
            from ._swap import Watcher

            watcher = Watcher(server, watch, root, poll_s, threads)
            app.state.watcher = watcher
            task = asyncio.ensure_future(watcher.run())
        if log_dir is not None:
            server.prediction_log = PredictionLog(
                log_dir,
                queue_size=log_queue,
                dropped=server.metrics.log_dropped.inc,
                retention_s=log_retention_s,
                max_bytes=log_max_bytes,
            )
        server.ready = True
        # The server drains the app through this on SIGTERM (see _shutdown).
        yield {DRAIN_KEY: server}
        server.ready = False
        if server.prediction_log is not None:
            server.prediction_log.close()
        if task is not None and watcher is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            watcher.close()
        for shadow_task in list(server.shadow_tasks):
            shadow_task.cancel()
        await asyncio.gather(*server.shadow_tasks, return_exceptions=True)
        canaries = [b for split in server.splits.values() for _, _, b in split]
        canaries += [b for _, b in server.shadows.values()]
        for batcher in {id(b): b for b in [*server.batchers.values(), *canaries]}.values():
            await batcher.close()

    # The inference routes first: Starlette tries routes in order, and these are the hot ones.
    routes = [
        Route("/predict", infer("predict", s.plain), methods=["POST"]),
        Route("/v2/models/{name}/infer", infer("v2", s.v2_infer), methods=["POST"]),
        Route("/invocations", infer("mlflow", s.invocations), methods=["POST"]),
        Route("/models/{name}/predict", infer("predict", s.plain), methods=["POST"]),
        Route(
            "/v2/models/{name}/versions/{version}/infer",
            infer("v2", s.v2_infer),
            methods=["POST"],
        ),
        Route("/models/{name}/invocations", infer("mlflow", s.invocations), methods=["POST"]),
        Route("/v2", s.server_metadata, methods=["GET"]),
        Route("/v2/health/live", s.live, methods=["GET"]),
        Route("/v2/health/ready", s.server_ready, methods=["GET"]),
        Route("/v2/models/{name}", s.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", s.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", s.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", s.model_ready, methods=["GET"]),
        Route("/ping", s.ping, methods=["GET"]),
        Route("/health", s.ping, methods=["GET"]),
        Route("/version", s.version, methods=["GET"]),
        Route("/metrics", s.metrics_route, methods=["GET"]),
        Route("/openapi.json", s.openapi_route, methods=["GET"]),
        Route("/docs", s.docs_route, methods=["GET"]),
    ]
    middleware = []
    if auth_tokens is not None:
        middleware.append(
            Middleware(
                AuthMiddleware, routes=routes, tokens=auth_tokens, open_routes=open_routes or []
            )
        )
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
        middleware=middleware,
    )
    app.state.server = server
    return app
