"""`billing.invoice.paid.v1` → the intended Lexoffice calls (effect rows) and a `queued` ledger row, written in the
inbox transaction; the booker carries them out. Not EUR, or taxes that do not add up: a `needs_manual_booking`
ledger row and an alert, and no call to Lexoffice."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from intplat_common import ConsumedEvent, PoisonMessage
from intplat_common.effects import AlertHook
from intplat_common.events import InvoicePaid

from .. import contacts, effects, ledger
from ..ledger import LedgerEntry
from ..planning import ManualBooking, euros, plan_contact, plan_sale
from ..taxes import TaxPolicy
from .routing import router

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventContext:
    alert: AlertHook
    tax_policy: TaxPolicy


@router.on(InvoicePaid)
async def on_invoice_paid(
    conn: asyncpg.Connection, consumed: ConsumedEvent, event: InvoicePaid, ctx: EventContext
) -> None:
    if not event.invoice_number:
        raise PoisonMessage(f"paid invoice {event.invoice_id} has no number (the voucher's dedupe key)")
    plan = plan_sale(event, ctx.tax_policy)
    if isinstance(plan, ManualBooking):
        await _needs_manual_booking(conn, event, plan.reason, ctx)
        return
    link = await contacts.find(conn, event.customer_id)
    new = await effects.record_sale(conn, plan, None if link is not None else plan_contact(event))
    if effects.voucher_key(plan.invoice_number) not in new:
        log.info(
            "invoice already on its way to Lexoffice",
            extra={"fields": {"invoice_id": event.invoice_id, "ce_id": consumed.event.id}},
        )
        return
    await ledger.record(
        conn,
        LedgerEntry(
            document_key=event.invoice_id,
            source="stripe_invoice",
            kind="queued",
            document_type="voucher",
            voucher_number=plan.invoice_number,
            amount=euros(plan.total),
            currency=plan.currency,
            details={
                "stripe_event_id": event.stripe_event_id,
                "customer_id": event.customer_id,
                "payment_intent_id": event.payment_intent_id,  # what a refund names its original by
            },
        ),
    )


async def _needs_manual_booking(conn: asyncpg.Connection, event: InvoicePaid, reason: str, ctx: EventContext) -> None:
    entry = LedgerEntry(
        document_key=event.invoice_id,
        source="stripe_invoice",
        kind="needs_manual_booking",
        document_type="voucher",
        voucher_number=event.invoice_number,
        amount=euros(event.total),
        currency=event.currency.upper(),
        reason=reason,
        details={
            "stripe_event_id": event.stripe_event_id,
            "customer_id": event.customer_id,
            "payment_intent_id": event.payment_intent_id,
        },
    )
    text = f"Stripe invoice {event.invoice_number} ({event.invoice_id}) needs manual booking in Lexoffice: {reason}"
    await record_manual_booking(conn, entry, ctx, text)


async def record_manual_booking(conn: asyncpg.Connection, entry: LedgerEntry, ctx: EventContext, alert: str) -> None:
    """A `needs_manual_booking` row (once per document, whatever is redelivered), the refunds that came first look
    again (they are manual too), and the ops alert."""
    if not await ledger.record_manual_once(conn, entry):
        return
    await effects.refunds_due(conn, entry.document_key)
    await ctx.alert("lexoffice_manual_booking", alert)
