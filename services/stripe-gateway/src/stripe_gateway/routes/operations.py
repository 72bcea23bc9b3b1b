"""Operations on recorded webhook events: list with filters, replay through the outbox."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from intplat_common import IsoDateTime

from ..storage import webhook_events
from ..webhooks.ingest import build_incoming, parse_event
from .deps import ApiKey, Pool

router = APIRouter(prefix="/v1/webhook-events", tags=["operations"], dependencies=[ApiKey])


@router.get("", summary="List recorded webhook events", responses={401: {"description": "missing or invalid key"}})
async def list_webhook_events(
    pool: Pool,
    type: Annotated[str | None, Query(max_length=100, description="Stripe event type, e.g. invoice.paid")] = None,
    status: Literal["accepted", "mapping_failed"] | None = None,
    received_after: IsoDateTime | None = None,
    received_before: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    events = await webhook_events.list_events(
        pool,
        type=type,
        status=status,
        received_after=received_after,
        received_before=received_before,
        limit=limit,
    )
    return {"data": [webhook_events.to_json(e) for e in events], "count": len(events)}


@router.post(
    "/{event_id}/replay",
    summary="Publish a recorded event again (through the outbox)",
    responses={401: {"description": "missing or invalid key"}, 404: {"description": "no such event"}},
)
async def replay_webhook_event(
    pool: Pool, event_id: Annotated[str, Path(pattern=r"^evt_[A-Za-z0-9_]+$", max_length=255)]
) -> dict[str, Any]:
    raw = await webhook_events.get_raw(pool, event_id)
    if raw is None:
        raise HTTPException(404, f"no recorded event {event_id}")
    envelope, _ = parse_event(raw.encode())
    incoming = build_incoming(envelope, raw)
    await webhook_events.replay(pool, incoming)
    return {
        "id": event_id,
        "republished_to": [m.topic for m in incoming.messages],
        "mapping_error": incoming.mapping_error,
    }
