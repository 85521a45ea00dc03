"""The FastAPI application: endpoints over the admitted models.

Handlers parse and validate (protocol.py), queue the work (batching.py) and wait for it without
blocking the event loop; a client that disconnects while its request waits withdraws the job. One
pure-ASGI middleware does what every response shares: the API key, the override header, and the
request metrics (pure ASGI rather than BaseHTTPMiddleware, which would hide the client's disconnect
from the handler).
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from ..errors import StcompatError
from .auth import OPEN_PATHS, key_matches, unauthorized
from .backends import EMBED, RERANK
from .batching import Job, MicroBatcher, QueueFull
from .info import info_body
from .limits import parse_json, read_body
from .metrics import route_label
from .protocol import ApiError, embeddings_body, models_body, parse_embeddings, parse_rerank, rerank_body
from .state import OVERRIDE_HEADER, ServedModel, ServerState
from .truncation import truncate

CLIENT_GONE = 499  # nginx's status for "the client closed the connection": only the metrics ever see it


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    # json.dumps directly: FastAPI's jsonable_encoder walks every float of every vector, slowly.
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content, status_code=status, media_type="application/json", headers=headers)


def _error(exc: ApiError) -> Any:
    return _json(exc.body(), exc.status, exc.headers)


class ServeMiddleware:
    """API key, override header and request metrics for every HTTP response."""

    def __init__(self, app: Any, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        started = time.perf_counter()
        status = 500
        override = state.override_header()

        async def send_with_headers(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if override is not None:
                    message["headers"] = [*message.get("headers", []),
                                          (OVERRIDE_HEADER.lower().encode(), override.encode("latin-1", "replace"))]
            await send(message)

        state.metrics.in_flight.inc()
        try:
            key = state.config.api_key
            if key is not None and scope["path"] not in OPEN_PATHS:
                header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
                if not key_matches(header, key):
                    await _error(unauthorized(header))(scope, receive, send_with_headers)
                    return
            await self.app(scope, receive, send_with_headers)
        finally:
            state.metrics.in_flight.dec()
            state.metrics.observe(route_label(scope["path"]), status, time.perf_counter() - started)


async def _body(request: Any, state: ServerState) -> Any:
    limit = state.config.limits.max_body_bytes
    try:
        raw = await read_body(request.stream(), request.headers.get("content-length"), limit)
    except ClientDisconnect:  # gone mid-upload: nothing was queued, nobody to answer
        raise ApiError(CLIENT_GONE, "the client closed the connection", code="client_closed") from None
    return parse_json(raw)


def _model(state: ServerState, name: str | None, role: str) -> ServedModel:
    if name is None:
        candidates = [m for m in state.models.values() if m.capabilities.role == role]
        if len(candidates) == 1:
            return candidates[0]
        raise ApiError(400, "'model' is required when several models are served (GET /v1/models lists them)",
                       code="missing_parameter", param="model")
    model = state.models.get(name)
    if model is None:
        raise ApiError(404, f"the model {name!r} does not exist here (GET /v1/models lists the models served)",
                       code="model_not_found", param="model")
    if model.capabilities.role != role:
        other = "/v1/rerank" if model.capabilities.role == RERANK else "/v1/embeddings"
        raise ApiError(400, f"the model {name!r} is a {model.capabilities.role} model: use {other}",
                       code="wrong_model_type", param="model")
    return model


async def _client_gone(receive: Any) -> None:
    """Returns when the client disconnects (the body is read by now, so nothing else arrives)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _wait(request: Any, batcher: MicroBatcher, job: Job) -> Any:
    """The job's result; None when the client went away first (its job is withdrawn if not started)."""
    result = asyncio.wrap_future(job.future)
    gone = asyncio.ensure_future(_client_gone(request.receive))
    try:
        await asyncio.wait((result, gone), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        batcher.cancel(job)  # the server cancelled the handler (forced shutdown): withdraw too
        raise
    finally:
        gone.cancel()
    if result.done():
        return result.result()
    batcher.cancel(job)
    return None


def _submit(batcher: MicroBatcher, inputs: Any, key: tuple) -> Job:
    try:
        return batcher.submit(inputs, key)
    except QueueFull as exc:
        raise ApiError(503, f"the server is busy ({exc}); retry shortly", code="server_overloaded",
                       type="server_error", headers={"Retry-After": "1"}) from None


def _dimensions(model: ServedModel, dimensions: int | None) -> int | None:
    """The truncation to apply (None: the model's own output), or 400 where it is not supported."""
    caps = model.capabilities
    if dimensions is None or dimensions == caps.dimension:
        return None
    if caps.truncatable is None:
        raise ApiError(400, f"the model {model.name!r} does not support 'dimensions': it was not trained for "
                       "truncated embeddings (no saved truncate_dim, no Matryoshka loss in its model card; "
                       "the operator can vouch for it with --matryoshka)", code="unsupported_dimensions",
                       param="dimensions")
    if caps.dimension is not None and dimensions > caps.dimension:
        raise ApiError(400, f"'dimensions' is {dimensions}; the model {model.name!r} gives at most {caps.dimension}",
                       code="invalid_value", param="dimensions")
    return dimensions


def _prompt(model: ServedModel, name: str | None) -> str | None:
    if name is not None and name not in model.capabilities.prompts:
        known = ", ".join(sorted(model.capabilities.prompts)) or "none"
        raise ApiError(400, f"the model {model.name!r} has no prompt named {name!r} (saved prompts: {known})",
                       code="unknown_prompt", param="prompt_name")
    return name


def create_app(state: ServerState) -> Any:
    """The ASGI application over ``state`` (batchers start and stop with its lifespan)."""
    from .. import __version__

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        for model in state.models.values():
            model.batcher.start()
        state.ready = True
        try:
            yield
        finally:
            state.draining = True
            state.ready = False
            loop = asyncio.get_running_loop()
            for model in state.models.values():
                await loop.run_in_executor(None, model.batcher.close, state.config.graceful_timeout_s)

    app = FastAPI(title="stcompat serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Any, exc: ApiError) -> Any:
        return _error(exc)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Any, exc: HTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(ApiError(exc.status_code, str(exc.detail), code=code))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Any, exc: RequestValidationError) -> Any:
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
        return _error(ApiError(400, f"invalid request ({fields})", code="invalid_request"))

    @app.exception_handler(Exception)
    async def _internal(_request: Any, exc: Exception) -> Any:
        # A stable code (STC855: a worker process died) tells the operator's logs and the client what broke.
        cause = exc.code if isinstance(exc, StcompatError) else type(exc).__name__
        return _error(ApiError(500, f"internal error ({cause})", code="internal_error", type="server_error"))

    @app.get("/health/live")
    async def live() -> Any:
        return _json({"status": "alive"})

    @app.get("/health/ready")
    async def ready() -> Any:
        ok = state.ready and not state.draining
        return _json({"status": "ready" if ok else ("draining" if state.draining else "starting"),
                      "models": list(state.models)}, 200 if ok else 503)

    @app.get("/health")
    async def health() -> Any:
        ok = state.ready and not state.draining
        models = {n: {"role": m.capabilities.role, "queue_depth": m.batcher.pending} for n, m in state.models.items()}
        return _json({"status": "ok" if ok else "unavailable", "live": True, "ready": ok, "models": models},
                     200 if ok else 503)

    @app.get("/info")
    async def info() -> Any:
        return _json(info_body(state))

    @app.get("/metrics")
    async def metrics() -> Any:
        content, media_type = state.metrics.render()
        return Response(content, media_type=media_type)

    @app.get("/v1/models")
    async def list_models() -> Any:
        return _json(models_body(list(state.models), int(state.started)))

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Any:
        parsed = parse_embeddings(await _body(request, state), state.config.limits)
        model = _model(state, parsed.model, EMBED)
        dimensions = _dimensions(model, parsed.dimensions)
        job = _submit(model.batcher, parsed.texts, ("embed", _prompt(model, parsed.prompt_name)))
        out = await _wait(request, model.batcher, job)
        if out is None:
            return Response(status_code=CLIENT_GONE)
        values = out.values if dimensions is None else truncate(out.values, dimensions, model.capabilities.normalizes)
        state.metrics.inputs.labels(model.name).inc(len(parsed.texts))
        state.metrics.tokens.labels(model.name).inc(sum(out.tokens))
        return _json(embeddings_body(model.name, values, out.tokens, parsed.encoding_format))

    @app.post("/v1/rerank")
    async def rerank(request: Request) -> Any:
        parsed = parse_rerank(await _body(request, state), state.config.limits)
        model = _model(state, parsed.model, RERANK)
        job = _submit(model.batcher, [(parsed.query, d) for d in parsed.documents], ("rerank",))
        out = await _wait(request, model.batcher, job)
        if out is None:
            return Response(status_code=CLIENT_GONE)
        state.metrics.inputs.labels(model.name).inc(len(parsed.documents))
        state.metrics.tokens.labels(model.name).inc(sum(out.tokens))
        return _json(rerank_body(model.name, parsed, out.values, out.tokens))

    return ServeMiddleware(app, state)
