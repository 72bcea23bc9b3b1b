"""`POST /webhooks/stripe`: verify, parse, record once with the outbox rows, answer 2xx only after the commit."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace

from intplat_common import problem

from ..storage.webhook_events import StorageUnavailable
from ..webhooks.ingest import InvalidEvent, build_incoming, parse_event
from ..webhooks.signature import SignatureError, verify_signature
from .deps import Settings, Writer

router = APIRouter(tags=["webhooks"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "recorded (or a duplicate of a recorded event)"},
    400: {"description": "signature verification failed, or the body is not a Stripe event; nothing was written"},
    403: {"description": "source IP not allowed (only when the allowlist is on)"},
    413: {"description": "body larger than the configured limit"},
    503: {"description": "the database is unavailable; nothing was written, Stripe will retry"},
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "description": "a Stripe v1 event"}}},
    },
    "parameters": [
        {"name": "Stripe-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
    ],
}


@router.post("/webhooks/stripe", responses=_RESPONSES, openapi_extra=_BODY, summary="Receive a Stripe webhook")
async def receive_stripe_webhook(request: Request, settings: Settings, writer: Writer) -> JSONResponse:
    span = trace.get_current_span()
    policy = request.app.state.ip_policy
    source_ip = policy.client_ip(
        request.client.host if request.client else None, request.headers.get("x-forwarded-for")
    )
    if not policy.permits(source_ip):
        return problem(403, "forbidden", "source IP is not one of Stripe's webhook addresses")
    body = await _read_limited(request, settings.webhook_max_body_bytes)
    try:
        verify_signature(
            body,
            request.headers.get("stripe-signature"),
            request.app.state.webhook_secrets,
            tolerance=settings.webhook_tolerance_seconds,
            now=time.time(),
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
    try:
        is_new = await writer.record(incoming)
    except StorageUnavailable:
        response = problem(503, "unavailable", "the event could not be recorded; retry later")
        response.headers["Retry-After"] = "5"
        return response
    span.set_attribute("stripe.webhook.duplicate", not is_new)
    return JSONResponse({"id": envelope.id, "status": "recorded" if is_new else "duplicate"})


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail=f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413, detail=f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
