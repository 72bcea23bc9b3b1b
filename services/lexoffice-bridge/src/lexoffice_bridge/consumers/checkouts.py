"""`billing.checkout.completed.v1` → booking path 2: a paid payment-mode checkout for which Stripe issued no
invoice becomes the intended Lexoffice calls (effect rows: the customer's contact, the invoice, its PDF) and a
`queued` ledger row, written in the inbox transaction; the booker carries them out (checkout.py). A checkout with a
Stripe invoice is booked from that invoice's `invoice.paid` (path 1). Not EUR, or taxes that do not add up: a
`needs_manual_booking` row and an alert, as on path 1."""

from __future__ import annotations

import logging

import asyncpg

from intplat_common import ConsumedEvent
from intplat_common.events import CheckoutCompleted

from .. import checkout, contacts, ledger
from ..invoicing import plan_checkout, skip_reason, tax_rule
from ..ledger import LedgerEntry
from ..planning import ManualBooking, contact_of, euros
from .invoices import EventContext, record_manual_booking
from .routing import router

log = logging.getLogger(__name__)


@router.on(CheckoutCompleted)
async def on_checkout_completed(
    conn: asyncpg.Connection, consumed: ConsumedEvent, event: CheckoutCompleted, ctx: EventContext
) -> None:
    fields = {"checkout_session_id": event.checkout_session_id, "ce_id": consumed.event.id}
    reason = skip_reason(event)
    if reason is not None:
        log.info("checkout not booked on path 2", extra={"fields": {**fields, "reason": reason}})
        return
    plan = plan_checkout(event)
    if not isinstance(plan, ManualBooking):
        plan = tax_rule(event, ctx.tax_policy) or plan
    details = {
        "stripe_event_id": event.stripe_event_id,
        "customer_id": event.customer_id,
        "payment_intent_id": event.payment_intent_id,  # what a refund names its original by
    }
    if isinstance(plan, ManualBooking):
        entry = LedgerEntry(
            document_key=event.checkout_session_id,
            source="stripe_checkout",
            kind="needs_manual_booking",
            document_type="invoice",
            amount=euros(event.amount_total) if event.amount_total is not None else None,
            currency=event.currency.upper() if event.currency else None,
            reason=plan.reason,
            details=details,
        )
        text = f"Stripe checkout {event.checkout_session_id} needs manual booking in Lexoffice: {plan.reason}"
        await record_manual_booking(conn, entry, ctx, text)
        return
    contact = None
    if event.customer_id is not None and await contacts.find(conn, event.customer_id) is None:
        contact = contact_of(event.customer_id, event.customer)
    new = await checkout.record_checkout(conn, plan, contact)
    if checkout.invoice_key(plan.session_id) not in new:
        log.info("checkout already on its way to Lexoffice", extra={"fields": fields})
        return
    entry = LedgerEntry(
        document_key=plan.session_id,
        source="stripe_checkout",
        kind="queued",
        document_type="invoice",
        amount=euros(plan.total),
        currency=plan.currency,
        details=details,
    )
    await ledger.record(conn, entry)
