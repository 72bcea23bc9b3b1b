"""`POST /webhooks/stripe`: verify, parse, record once with the outbox rows, answer 2xx only after the commit.

A plain ASGI endpoint rather than a FastAPI route: it is the one path Stripe hits at volume, and FastAPI's request
object, dependency resolution and response classes cost more CPU per delivery than verifying, mapping and recording
the event together (see bench/results/webhook_gateway.md). The route still passes through the app's middleware
(tracing, correlation ids), and its OpenAPI entry is declared below.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi.responses import JSONResponse
from opentelemetry import trace
from starlette.types import Receive, Scope, Send

from intplat_common import problem

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
            "413": {"description": "body larger than the configured limit"},
            "503": {"description": "the database is unavailable; nothing was written, Stripe will retry"},
        },
    }
}


class _BodyTooLarge(Exception):
    pass


class StripeWebhookEndpoint:
    """The ASGI app behind `POST /webhooks/stripe`; the writer is the app's (created in its lifespan)."""

    def __init__(self, settings: GatewaySettings, secrets: list[bytes], ip_policy: SourceIpPolicy) -> None:
        self._secrets = secrets
        self._ip_policy = ip_policy
        self._tolerance = settings.webhook_tolerance_seconds
        self._limit = settings.webhook_max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._handle(scope, receive)
        if isinstance(response, bytes):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(response))],
                }
            )
            await send({"type": "http.response.body", "body": response})
        else:
            await response(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive) -> bytes | JSONResponse:
        span = trace.get_current_span()
        headers = _headers(scope)
        client = scope.get("client")
        source_ip = self._ip_policy.client_ip(client[0] if client else None, headers.get("x-forwarded-for"))
        if not self._ip_policy.permits(source_ip):
            return problem(403, "forbidden", "source IP is not one of Stripe's webhook addresses")
        try:
            body = await _read_body(receive, headers.get("content-length"), self._limit)
        except _BodyTooLarge:
            return problem(413, "payload_too_large", f"body larger than {self._limit} bytes")
        try:
            verify_signature(
                body, headers.get("stripe-signature"), self._secrets, tolerance=self._tolerance, now=time.time()
            )
            envelope, raw = parse_event(body)
        except SignatureError as exc:
            span.set_attribute("stripe.webhook.rejected", "signature")
            return problem(400, "invalid_signature", str(exc))
        except InvalidEvent as exc:
            span.set_attribute("stripe.webhook.rejected", "payload")
            return problem(400, "invalid_event", str(exc))
        span.set_attributes({"stripe.event.id": envelope.id, "stripe.event.type": envelope.type})
        incoming = build_incoming(envelope, raw, source_ip=source_ip)
        writer: WebhookWriter = scope["app"].state.writer
        try:
            is_new = await writer.record(incoming)
        except StorageUnavailable:
            response = problem(503, "unavailable", "the event could not be recorded; retry later")
            response.headers["Retry-After"] = "5"
            return response
        span.set_attribute("stripe.webhook.duplicate", not is_new)
        return json.dumps({"id": envelope.id, "status": "recorded" if is_new else "duplicate"}).encode()


def _headers(scope: Scope) -> dict[str, str]:
    """The request headers this endpoint reads, lower-cased (ASGI already lower-cases names)."""
    wanted = (b"stripe-signature", b"content-length", b"x-forwarded-for")
    return {name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in wanted}


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
