"""Message lookup for support staff: one message, or the latest ones filtered by recipient, status or template."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from .. import ledger
from ..ledger import Message
from ..rendering import TEMPLATES
from .deps import ApiKey, Pool

router = APIRouter(prefix="/v1", tags=["messages"], dependencies=[ApiKey])


class MessageView(BaseModel):
    """A ledger row as support sees it (the template model is left out: it may hold sign-in links)."""

    id: uuid.UUID
    template: str
    locale: str
    recipient: str | None
    origin: str = Field(description="event (a Kafka event) or api (POST /v1/emails)")
    source_ref: str | None = Field(description="the event id, or the caller's Idempotency-Key")
    customer_id: str | None
    status: ledger.Status
    status_reason: str | None = Field(description="why it failed, was suppressed or is being retried")
    error_code: int | None
    attempts: int
    next_attempt_at: datetime | None = Field(description="when a pending message is tried next")
    postmark_message_id: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    bounced_at: datetime | None

    @classmethod
    def of(cls, message: Message) -> MessageView:
        return cls(
            id=message.id,
            template=message.template,
            locale=message.locale,
            recipient=message.recipient,
            origin=message.origin,
            source_ref=message.source_ref,
            customer_id=message.customer_id,
            status=message.status,
            status_reason=message.error,
            error_code=message.error_code,
            attempts=message.attempts,
            next_attempt_at=message.next_attempt_at if message.status in ledger.PENDING else None,
            postmark_message_id=message.postmark_message_id,
            created_at=message.created_at,
            updated_at=message.updated_at,
            sent_at=message.sent_at,
            delivered_at=message.delivered_at,
            opened_at=message.opened_at,
            clicked_at=message.clicked_at,
            bounced_at=message.bounced_at,
        )


class MessageList(BaseModel):
    messages: list[MessageView]


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid X-Internal-Api-Key"},
    404: {"description": "no such message"},
    422: {"description": "invalid id or filter"},
}
TemplateName = Annotated[str | None, Query(pattern=f"^({'|'.join(TEMPLATES)})$", description="template name")]


@router.get("/messages/{message_id}", response_model=MessageView, responses=_ERRORS, summary="One message")
async def get_message(message_id: uuid.UUID, pool: Pool) -> MessageView:
    message = await ledger.get(pool, message_id)
    if message is None:
        raise HTTPException(404, f"no message {message_id}")
    return MessageView.of(message)


@router.get("/messages", response_model=MessageList, responses=_ERRORS, summary="Latest messages, filtered")
async def list_messages(
    pool: Pool,
    recipient: Annotated[
        str | None, Query(min_length=3, max_length=254, pattern=r"^[^\x00-\x1f\x7f]+$", description="exact address")
    ] = None,
    status: Annotated[ledger.Status | None, Query()] = None,
    template: TemplateName = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessageList:
    messages = await ledger.search(pool, recipient=recipient, status=status, template=template, limit=limit)
    return MessageList(messages=[MessageView.of(m) for m in messages])
