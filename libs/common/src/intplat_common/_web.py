"""The parts every service's FastAPI app shares: health, readiness, metrics, correlation ids, clear errors, API keys."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import BeforeValidator, SecretStr
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._correlation import (
    CORRELATION_HEADER,
    current_correlation_id,
    reset_correlation_id,
    set_correlation_id,
)
from ._db import DATABASE_GONE
from ._telemetry import prometheus_text

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]


def _iso_8601_only(value: Any) -> Any:
    # pydantic would read "0.5" or "1700000000" as seconds since 1970; the OpenAPI document promises date-time.
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("expected an ISO 8601 date-time such as 2026-11-20T00:00:00Z, not a number")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601_only)]
"""A query or body date-time that must be written in ISO 8601, as the OpenAPI `date-time` format says."""


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes (from Content-Length, or
    while it streams in): a large body is never buffered whole."""
    too_large = StarletteHTTPException(413, f"body larger than {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def problem(status: int, error: str, detail: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"error": error}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(status_code=status, content=body)


def install_common_routes(app: FastAPI, readiness: Mapping[str, ReadinessCheck]) -> None:
    """GET /healthz (process up), /readyz (every dependency answers, else 503), /metrics (Prometheus text)."""

    @app.get("/healthz", tags=["ops"], summary="Process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Database and Kafka reachable",
        responses={503: {"description": "a dependency is unreachable"}},
    )
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in readiness.items():
            try:
                await asyncio.wait_for(check(), timeout=3)
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            status_code=200 if ready else 503,
            content={"status": "ready" if ready else "not ready", "checks": results},
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    async def metrics_endpoint() -> Response:
        body, content_type = prometheus_text()
        return Response(content=body, media_type=content_type)


class CorrelationMiddleware:
    """Sets the correlation id (from X-Correlation-Id or new) for the request and echoes it in the response.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware costs a task and a stream
    per request on the hot webhook path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(CORRELATION_HEADER)
        token = set_correlation_id(incoming)
        cid = current_correlation_id() or ""

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = cid
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            reset_correlation_id(token)


class BodyTimeout(StarletteHTTPException):
    """The client did not send its whole request body in time: answered 408 (an HTTP error, so FastAPI's body
    parsing passes it on instead of turning it into a 400)."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=408, detail=detail, headers={"Connection": "close"})


def receive_with_deadline(receive: Receive, seconds: float) -> Receive:
    """`receive` for one request whose whole body must arrive within `seconds` of the first read."""
    deadline: float | None = None

    async def receive_in_time() -> Message:
        nonlocal deadline
        loop = asyncio.get_running_loop()
        deadline = deadline if deadline is not None else loop.time() + seconds
        try:
            async with asyncio.timeout_at(deadline):
                return await receive()
        except TimeoutError:
            raise BodyTimeout(f"request body not received within {seconds:g} s") from None

    return receive_in_time


class BodyTimeoutMiddleware:
    """Every request's body must arrive within the limit; a trickling client gets 408 and the connection closes."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self._app = app
        self._seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            receive = receive_with_deadline(receive, self._seconds)
        await self._app(scope, receive, send)


def install_middleware_and_errors(app: FastAPI, *, body_timeout_seconds: float = 10.0) -> None:
    app.add_middleware(BodyTimeoutMiddleware, seconds=body_timeout_seconds)
    app.add_middleware(CorrelationMiddleware)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return problem(422, "validation_failed", errors)

    # The database gone mid-request (a restart, a failover, a dropped connection): a clear 503 the caller retries,
    # not a 500 with a traceback. Routes that must answer otherwise (webhooks: their provider's retry contract)
    # catch these themselves.
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "database unavailable; answered 503",
            extra={"fields": {"path": request.url.path, "error": repr(exc)}},
        )
        response = problem(503, "database_unavailable", f"the database is unavailable ({type(exc).__name__}); retry")
        response.headers["Retry-After"] = "5"
        return response

    for gone in DATABASE_GONE:
        app.add_exception_handler(gone, database_unavailable)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str | dict | list) else str(exc.detail)
        response = problem(exc.status_code, _error_name(exc.status_code), detail)
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response


def _error_name(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        408: "request_timeout",
        409: "conflict",
        413: "payload_too_large",
        415: "unsupported_media_type",
        422: "validation_failed",
        503: "unavailable",
    }.get(status, "error")


def document_body_errors(router: APIRouter) -> None:
    """Every route with a request body documents the 400 FastAPI answers for a body it cannot read at all (bytes
    that are not UTF-8); malformed JSON and invalid fields are 422. Call it before the router is included."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.body_field is not None:
            route.responses = {400: {"description": "the body could not be read (not UTF-8 text)"}, **route.responses}


def instrument_app(app: FastAPI, *, traced_by_route: Sequence[str] = ()) -> None:
    """Server spans and HTTP metrics for every route but the probes and `traced_by_route` (which make their own)."""
    excluded = ",".join(["healthz", "readyz", "metrics", *(path.lstrip("/") for path in traced_by_route)])
    # No span per ASGI send/receive message: two extra spans per request, nothing an SRE reads.
    FastAPIInstrumentor.instrument_app(app, excluded_urls=excluded, exclude_spans=["receive", "send"])


def api_key_matches(presented: str | None, keys: Sequence[SecretStr]) -> bool:
    """Constant-time comparison against every configured key (several keys allow rotation)."""
    if not presented:
        return False
    candidate = presented.encode()
    matched = False
    for key in keys:
        # No early exit: the time taken does not reveal which key (or how much of it) matched.
        matched |= hmac.compare_digest(candidate, key.get_secret_value().encode())
    return matched
