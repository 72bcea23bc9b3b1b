"""`POST /webhooks/stripe`: verify, parse, record once with the outbox rows, answer 2xx only after the commit.

A plain ASGI endpoint rather than a FastAPI route: it is the one path Stripe hits at volume, and FastAPI's request
object, dependency resolution, middleware and response classes cost more CPU per delivery than verifying, mapping
and recording the event together (see bench/results/webhook_gateway.md). The app dispatches it ahead of its
middleware stack (a kit `FastPath`), so the endpoint does what that stack would: its server span, the correlation
id, a JSON answer on a bug. Its OpenAPI entry is declared below.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import Receive, Scope, Send

from intplat_common import (
    CORRELATION_HEADER,
    BodyTimeout,
    current_correlation_id,
    receive_with_deadline,
    reset_correlation_id,
    set_correlation_id,
)

from ..ip_allowlist import SourceIpPolicy
from ..settings import GatewaySettings
from ..storage.webhook_events import StorageUnavailable, WebhookWriter
from ..webhooks.ingest import InvalidEvent, build_incoming, parse_event
from ..webhooks.signature import SignatureError, verify_signature

PATH = "/webhooks/stripe"

OPENAPI_PATH_ITEM: dict[str, Any] = {
    "post": {
        "tags": ["webhooks"],
        "summary": "Receive a Stripe webhook",
        "operationId": "receive_stripe_webhook",
        "parameters": [{"name": "Stripe-Signature", "in": "header", "required": True, "schema": {"type": "string"}}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "description": "a Stripe v1 event"}}},
        },
        "responses": {
            "200": {"description": "recorded (or a duplicate of a recorded event)"},
            "400": {"description": "bad signature, or the body is not a Stripe event; nothing was written"},
            "403": {"description": "source IP not allowed (only when the allowlist is on)"},
            "408": {"description": "the body did not arrive within HTTP_BODY_TIMEOUT_SECONDS; nothing was written"},
            "413": {"description": "body larger than the configured limit"},
            "503": {"description": "the database is unavailable; nothing was written, Stripe will retry"},
        },
    }
}


log = logging.getLogger(__name__)
tracer = trace.get_tracer("stripe_gateway.webhooks")
meter = metrics.get_meter("stripe_gateway.webhooks")
_duration = meter.create_histogram(
    "stripe.webhook.duration", unit="s", description="webhook request duration, by status and outcome"
)
_READ_HEADERS = (
    b"stripe-signature",
    b"content-length",
    b"x-forwarded-for",
    b"traceparent",
    b"tracestate",
    b"user-agent",
    b"x-correlation-id",
)
_CORRELATION_HEADER = CORRELATION_HEADER.lower().encode()


class _BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]
    outcome: str  # recorded, duplicate or the error name: a low-cardinality metric attribute
    headers: tuple[tuple[bytes, bytes], ...] = ()


def _problem(status: int, error: str, detail: str) -> _Answer:
    return _Answer(status, {"error": error, "detail": detail}, error)


class StripeWebhookEndpoint:
    """The ASGI app behind `POST /webhooks/stripe`, built in the app's lifespan with the app's writer.

    It makes its own SERVER span (stable HTTP semantic conventions) instead of going through the generic ASGI
    instrumentation, which costs more per request than everything else this endpoint does besides the commit.
    """

    def __init__(
        self, settings: GatewaySettings, secrets: list[bytes], ip_policy: SourceIpPolicy, writer: WebhookWriter
    ) -> None:
        self._secrets = secrets
        self._ip_policy = ip_policy
        self._tolerance = settings.webhook_tolerance_seconds
        self._limit = settings.webhook_max_body_bytes
        self._body_timeout = settings.http_body_timeout_seconds
        self._writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in _READ_HEADERS:
                key, text = name.decode(), value.decode("latin-1")
                if key not in headers:
                    headers[key] = text
                # A header sent on several lines is one comma-separated list (RFC 9110), X-Forwarded-For included;
                # a correlation id is not a list: the first one counts, as on the other routes.
                elif name != _CORRELATION_HEADER:
                    headers[key] = f"{headers[key]}, {text}"
        client = scope.get("client")
        peer = client[0] if client else None
        attributes: dict[str, Any] = {
            "http.request.method": "POST",
            "http.route": PATH,
            "url.path": PATH,
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        if peer:
            attributes["client.address"] = peer
        if "user-agent" in headers:
            attributes["user_agent.original"] = headers["user-agent"]
        correlation = set_correlation_id(headers.get("x-correlation-id"))
        status, outcome = 500, "error"  # what the metric records if even the answer could not be sent
        try:
            with tracer.start_as_current_span(
                f"POST {PATH}",
                # Stripe sends no trace context; a caller that does (a replaying proxy, a test) is continued.
                context=propagate.extract(headers) if "traceparent" in headers else None,
                kind=SpanKind.SERVER,
                attributes=attributes,
            ) as span:
                try:
                    answer = await self._handle(headers, peer, receive, span)
                except Exception:  # a bug, not the input: still a JSON answer, and nothing was recorded
                    log.exception("webhook not handled")
                    detail = "the event was not recorded; retry later"
                    answer = _Answer(500, {"error": "internal", "detail": detail}, "error")
                status, outcome = answer.status, answer.outcome
                span.set_attributes({"http.response.status_code": status, "stripe.webhook.outcome": outcome})
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                body = json.dumps(answer.body).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", b"%d" % len(body)),
                            (_CORRELATION_HEADER, (current_correlation_id() or "").encode("latin-1")),
                            *answer.headers,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            reset_correlation_id(correlation)
            _duration.record(time.perf_counter() - started, {"http.response.status_code": status, "outcome": outcome})

    async def _handle(self, headers: dict[str, str], peer: str | None, receive: Receive, span: trace.Span) -> _Answer:
        source_ip = self._ip_policy.client_ip(peer, headers.get("x-forwarded-for"))
        if not self._ip_policy.permits(source_ip):
            return _problem(403, "forbidden", "source IP is not one of Stripe's webhook addresses")
        try:
            body = await _read_body(
                receive_with_deadline(receive, self._body_timeout), headers.get("content-length"), self._limit
            )
        except BodyTimeout as exc:
            return _problem(408, "request_timeout", str(exc.detail))
        except _BodyTooLarge:
            return _problem(413, "payload_too_large", f"body larger than {self._limit} bytes")
        try:
            verify_signature(
                body, headers.get("stripe-signature"), self._secrets, tolerance=self._tolerance, now=time.time()
            )
            envelope, raw = parse_event(body)
        except SignatureError as exc:
            return _problem(400, "invalid_signature", str(exc))
        except InvalidEvent as exc:
            return _problem(400, "invalid_event", str(exc))
        span.set_attributes({"stripe.event.id": envelope.id, "stripe.event.type": envelope.type})
        incoming = build_incoming(envelope, raw, source_ip=source_ip)
        try:
            is_new = await self._writer.record(incoming)
        except StorageUnavailable:
            detail = "the event could not be recorded; retry later"
            return _Answer(503, {"error": "unavailable", "detail": detail}, "unavailable", ((b"retry-after", b"5"),))
        outcome = "recorded" if is_new else "duplicate"
        return _Answer(200, {"id": envelope.id, "status": outcome}, outcome)


async def _read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
