"""`GET`/`POST /webhooks/instagram`: Meta's webhook (reference A4).

GET is the subscription handshake: the challenge is echoed when `hub.verify_token` is ours, else 403. POST carries
`{"object": "instagram", "entry": [...]}` signed with `X-Hub-Signature-256: sha256=<HMAC-SHA256(app secret, raw
body)>`, checked over the raw bytes in constant time (401, nothing stored, when wrong). Meta retries for about a day
and a half, so a delivery is stored once (by its body's digest) and `story_insights` values once per story and time:
stories have insights for 24 h only, so these values are kept before the story expires.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from intplat_common import read_limited_body
from intplat_common.service import Pool

from .deps import Settings

router = APIRouter(tags=["webhooks"])
SIGNATURE_PREFIX = "sha256="


class DeliveryAnswer(BaseModel):
    status: Literal["received", "duplicate"]
    stories: int = 0


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix(SIGNATURE_PREFIX).lower())


@router.get("/webhooks/instagram", response_class=PlainTextResponse, responses={403: {"description": "wrong token"}})
async def verify_subscription(
    settings: Settings,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=256)] = None,
    verify_token: Annotated[str | None, Query(alias="hub.verify_token", max_length=256)] = None,
) -> PlainTextResponse:
    expected = settings.webhook_verify_token.get_secret_value().encode()
    if mode != "subscribe" or challenge is None or not hmac.compare_digest(expected, (verify_token or "").encode()):
        raise HTTPException(403, "verification refused")
    return PlainTextResponse(challenge)


def _story_rows(document: Any) -> list[tuple[str, str, dict[str, Any], datetime]]:
    """(media id, account id, metrics, event time) of each `story_insights` change."""
    if not isinstance(document, dict) or document.get("object") != "instagram":
        raise HTTPException(400, "not an Instagram webhook body")
    rows = []
    for entry in document.get("entry") or []:
        when = datetime.fromtimestamp(int(entry.get("time") or 0), UTC)
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") != "story_insights" or "media_id" not in value:
                continue
            metrics = {key: number for key, number in value.items() if key != "media_id"}
            rows.append((str(value["media_id"]), str(entry.get("id")), metrics, when))
    return rows


@router.post(
    "/webhooks/instagram",
    response_model=DeliveryAnswer,
    responses={
        400: {"description": "not an Instagram webhook body"},
        401: {"description": "missing or wrong X-Hub-Signature-256 (nothing stored)"},
        413: {"description": "body too large"},
    },
)
async def receive(
    request: Request,
    pool: Pool,
    settings: Settings,
    x_hub_signature_256: Annotated[str | None, Header(max_length=256)] = None,
) -> DeliveryAnswer:
    body = await read_limited_body(request, settings.webhook_max_body_bytes)
    if not signature_matches(settings.meta_app_secret.get_secret_value(), body, x_hub_signature_256):
        raise HTTPException(401, "missing or wrong X-Hub-Signature-256")
    try:
        document = json.loads(body)
    except ValueError:
        raise HTTPException(400, "body is not JSON") from None
    rows = _story_rows(document)
    async with pool.acquire() as conn, conn.transaction():
        first = await conn.fetchval(
            "INSERT INTO webhook_deliveries (digest) VALUES ($1) ON CONFLICT DO NOTHING RETURNING true",
            hashlib.sha256(body).hexdigest(),
        )
        if not first:
            return DeliveryAnswer(status="duplicate")
        await conn.executemany(
            "INSERT INTO instagram_story_insights (media_id, account_id, metrics, event_time)"
            " VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT DO NOTHING",
            rows,
        )
    return DeliveryAnswer(status="received", stories=len(rows))
