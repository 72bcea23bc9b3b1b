"""`POST /webhooks/lexoffice`: Lexoffice's event callbacks, signed with `X-Lxo-Signature`.

A callback carries only `{organizationId, eventType, resourceId, eventDate}`. It is verified over the raw body,
stored once per (eventType, resourceId, eventDate) (Lexoffice retries and replays: there is no nonce) and
acknowledged at once (Lexoffice waits 5 s); the resource is fetched later, from the stored row (callbacks.py).
Lexoffice retries 401, 403, 429 and 5xx and drops other 4xx: a bad signature is 401 (nothing stored), a database
failure 503.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel

from intplat_common import DATABASE_GONE, read_limited_body
from intplat_common.service import Pool

from ..settings import LexofficeBridgeSettings
from ..webhook_signature import WebhookVerifier

router = APIRouter(tags=["webhooks"])

_FIELDS = ("organizationId", "eventType", "resourceId", "eventDate")


class CallbackAnswer(BaseModel):
    status: Literal["received", "duplicate"]


async def _settings(request: Request) -> LexofficeBridgeSettings:
    settings: LexofficeBridgeSettings = request.app.state.settings
    return settings


async def _verifier(request: Request) -> WebhookVerifier | None:
    verifier: WebhookVerifier | None = request.app.state.webhook_verifier
    return verifier


Settings = Annotated[LexofficeBridgeSettings, Depends(_settings)]
Verifier = Annotated[WebhookVerifier | None, Depends(_verifier)]


@router.post(
    "/webhooks/lexoffice",
    response_model=CallbackAnswer,
    responses={
        400: {"description": "not a Lexoffice callback body"},
        401: {"description": "missing or wrong X-Lxo-Signature (nothing stored)"},
        413: {"description": "body too large"},
        503: {"description": "database unavailable; Lexoffice retries"},
    },
    summary="Lexoffice event callback (RSA-SHA512 signature)",
)
async def lexoffice_callback(
    request: Request,
    pool: Pool,
    settings: Settings,
    verifier: Verifier,
    x_lxo_signature: Annotated[str | None, Header(max_length=2048)] = None,
) -> CallbackAnswer:
    body = await read_limited_body(request, settings.webhook_max_body_bytes)
    if verifier is None or not verifier.verify(body, x_lxo_signature):
        raise HTTPException(401, "missing or wrong X-Lxo-Signature")
    event = _callback(body)
    try:
        inserted = await pool.fetchval(
            """
            INSERT INTO lexoffice_events (event_type, resource_id, event_date, payload) VALUES ($1, $2, $3, $4::jsonb)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            event["eventType"],
            event["resourceId"],
            event["eventDate"],
            json.dumps(event),
        )
    except DATABASE_GONE as exc:
        raise HTTPException(503, f"database unavailable: {type(exc).__name__}", headers={"Retry-After": "10"}) from None
    if inserted:
        request.app.state.status.callbacks.wake()  # at once when this process runs the processor (else it polls)
    return CallbackAnswer(status="received" if inserted else "duplicate")


def _callback(body: bytes) -> dict[str, Any]:
    try:
        event: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "body is not valid JSON") from None
    if not isinstance(event, dict) or not all(isinstance(event.get(name), str) and event[name] for name in _FIELDS):
        raise HTTPException(400, f"a callback carries the strings {', '.join(_FIELDS)}")
    return event
