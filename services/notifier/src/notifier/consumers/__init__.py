"""Kafka consumers: billing events and Instagram connection warnings become ledger rows (nothing is sent here).

The handler runs inside the ConsumerRunner's transaction that writes the inbox row, and does database work only
(plus a Stripe read when no address is known): the sender loop calls Postmark later. So a redelivered record, a
crash before the offset commit or a consumer-group reset can never send a mail twice: the inbox skips the record,
and the ledger's unique dedupe key holds even when the inbox does not (a new consumer group).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from pydantic import ValidationError

from intplat_common import ConsumedEvent, Handler, PoisonMessage
from intplat_common.events import (
    CheckoutCompleted,
    EventModel,
    InstagramConnectionExpiring,
    InvalidEnvelope,
    InvoicePaid,
    PaymentFailed,
    parse_payload,
)

from .billing import EventContext, on_checkout_completed, on_invoice_paid, on_payment_failed
from .instagram import on_connection_expiring

EventHandler = Callable[[asyncpg.Connection, ConsumedEvent, Any, EventContext], Awaitable[None]]

ROUTES: dict[str, tuple[type[EventModel], EventHandler]] = {
    CheckoutCompleted.EVENT_TYPE: (CheckoutCompleted, on_checkout_completed),
    InvoicePaid.EVENT_TYPE: (InvoicePaid, on_invoice_paid),
    PaymentFailed.EVENT_TYPE: (PaymentFailed, on_payment_failed),
    InstagramConnectionExpiring.EVENT_TYPE: (InstagramConnectionExpiring, on_connection_expiring),
}


def decode(consumed: ConsumedEvent) -> tuple[EventModel, EventHandler]:
    """The payload model and handler for a record; PoisonMessage when it is not one the notifier understands."""
    route = ROUTES.get(consumed.event.type)
    if route is None:
        raise PoisonMessage(f"unexpected event type {consumed.event.type!r} on {consumed.topic}")
    model, handler = route
    try:
        payload = parse_payload(consumed.event, model)
    except (ValidationError, InvalidEnvelope) as exc:
        raise PoisonMessage(f"invalid {model.__name__} payload: {exc}") from exc
    return payload, handler


def make_handler(context: EventContext) -> Handler:
    async def handle(conn: asyncpg.Connection, consumed: ConsumedEvent) -> None:
        payload, handler = decode(consumed)
        await handler(conn, consumed, payload, context)

    return handle


__all__ = ["ROUTES", "EventContext", "decode", "make_handler"]
