"""`billing.refund.succeeded.v1` → the intended credit document (effect rows) and a `queued` ledger row, written in
the inbox transaction; the booker carries them out (credit_notes.py). Not EUR, or Stripe taxes that do not add up: a
`needs_manual_booking` row and an alert, no call. A plain refund that a Stripe credit note already names is booked
through that credit note: nothing is recorded for it; a credit note supersedes the refunds it names that came first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import asyncpg

from intplat_common import ConsumedEvent
from intplat_common.events import RefundSucceeded

from .. import effects, ledger
from ..ledger import LedgerEntry
from ..planning import ManualBooking, euros
from ..refunds import RefundPlan, document_key, plan_refund
from .invoices import EventContext
from .routing import router

log = logging.getLogger(__name__)


@router.on(RefundSucceeded)
async def on_refund_succeeded(
    conn: asyncpg.Connection, consumed: ConsumedEvent, event: RefundSucceeded, ctx: EventContext
) -> None:
    key = document_key(event)
    if event.source == "refund" and await effects.booked_through_credit_note(conn, key):
        log.info("refund booked through its Stripe credit note", extra={"fields": {"refund_id": key}})
        return
    plan = plan_refund(event)
    if isinstance(plan, ManualBooking):
        await _needs_manual_booking(conn, event, key, plan.reason, ctx)
        return
    if effects.credit_key(key) not in await effects.record_refund(conn, plan):
        log.info("refund already on its way", extra={"fields": {"document_key": key, "ce_id": consumed.event.id}})
        return
    await ledger.record(conn, _entry(event, key, "queued", plan.number, _details(event, plan)))
    for refund_id in await effects.supersede_refunds(conn, key, plan.refund_ids):
        details = {"credit_note_id": key, "stripe_event_id": event.stripe_event_id}
        await ledger.record(conn, _entry(event, refund_id, "superseded", plan.number, details))


def _details(event: RefundSucceeded, plan: RefundPlan) -> dict[str, Any]:
    return {
        "stripe_event_id": event.stripe_event_id,
        "customer_id": event.customer_id,
        "original_key": plan.original_key,
        "payment_intent_id": plan.payment_intent_id,
        "refund_ids": list(plan.refund_ids),
    }


def _entry(
    event: RefundSucceeded,
    key: str,
    kind: ledger.EntryKind,
    number: str | None,
    details: Mapping[str, Any],
    reason: str | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        document_key=key,
        source="stripe_refund",
        kind=kind,
        document_type="credit_note",
        voucher_number=number,
        amount=euros(event.amount),
        currency=event.currency.upper(),
        reason=reason,
        details=details,
    )


async def _needs_manual_booking(
    conn: asyncpg.Connection, event: RefundSucceeded, key: str, reason: str, ctx: EventContext
) -> None:
    details = {"stripe_event_id": event.stripe_event_id, "original_key": event.invoice_id,
               "payment_intent_id": event.payment_intent_id}  # fmt: skip
    entry = _entry(event, key, "needs_manual_booking", event.credit_note_number, details, reason)
    if await ledger.record_manual_once(conn, entry):
        await ctx.alert(
            "lexoffice_manual_booking",
            f"Stripe {event.source.replace('_', ' ')} {key} needs manual booking in Lexoffice: {reason}",
        )
