"""`POST /webhooks/postmark`: Delivery, Bounce, SpamComplaint, Open, Click and SubscriptionChange records.

Postmark signs nothing; it authenticates with HTTP Basic credentials in the webhook URL, checked here in constant
time. Postmark retries 5xx/408/429 and drops every other 4xx at once, so: bad credentials or a malformed body → 4xx
(nothing to retry), a record we do not handle → 200 (recorded, ignored), a database failure → 503 (retried).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel

from intplat_common import DATABASE_GONE, read_limited_body

from ..tracking import apply_webhook
from .deps import Pool, Settings

router = APIRouter(tags=["webhooks"])


class WebhookAnswer(BaseModel):
    status: str
    record_type: str


_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["RecordType"],
                    "properties": {
                        "RecordType": {
                            "type": "string",
                            "enum": ["Delivery", "Bounce", "SpamComplaint", "Open", "Click", "SubscriptionChange"],
                        },
                        "MessageID": {"type": "string"},
                        "Recipient": {"type": "string"},
                        "Email": {"type": "string"},
                        "Metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                    "additionalProperties": True,
                }
            }
        },
    }
}


def _credentials_match(header: str | None, user: str, password: str) -> bool:
    if not header or header[:6].lower() != "basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    given_user, sep, given_password = decoded.partition(":")
    if not sep:
        return False
    # Digests first: compare_digest on equal-length values, and `&` so both parts are always compared.
    user_ok = hmac.compare_digest(hashlib.sha256(given_user.encode()).digest(), hashlib.sha256(user.encode()).digest())
    password_ok = hmac.compare_digest(
        hashlib.sha256(given_password.encode()).digest(), hashlib.sha256(password.encode()).digest()
    )
    return user_ok & password_ok


@router.post(
    "/webhooks/postmark",
    response_model=WebhookAnswer,
    openapi_extra=_BODY_SCHEMA,
    responses={
        400: {"description": "the body is not a JSON object"},
        401: {"description": "missing or wrong Basic credentials"},
        413: {"description": "body too large"},
        503: {"description": "database unavailable; Postmark retries"},
    },
    summary="Postmark webhook (Basic auth)",
)
async def postmark_webhook(
    request: Request,
    pool: Pool,
    settings: Settings,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_pm_webhook_trace_id: Annotated[str | None, Header(max_length=200)] = None,
) -> WebhookAnswer:
    if not _credentials_match(authorization, settings.webhook_user, settings.webhook_password.get_secret_value()):
        raise HTTPException(401, "missing or wrong credentials", headers={"WWW-Authenticate": 'Basic realm="postmark"'})
    body = await read_limited_body(request, settings.webhook_max_body_bytes)
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "body must be a JSON object (one Postmark record)")
    try:
        result = await apply_webhook(pool, payload, x_pm_webhook_trace_id)
    except (asyncpg.DataError, UnicodeEncodeError):
        # NUL characters or lone surrogates: nothing PostgreSQL can store, and nothing Postmark sends.
        raise HTTPException(400, "body holds characters that cannot be stored (NUL or unpaired surrogates)") from None
    except DATABASE_GONE as exc:
        raise HTTPException(503, f"database unavailable: {type(exc).__name__}", headers={"Retry-After": "60"}) from None
    return WebhookAnswer(status=result.outcome, record_type=result.record_type)
