"""Billing events → mails: order confirmation, invoice receipt, payment failed.

Each `plan_*` function is pure (event + contact → a planned mail or a reason to send none), so every shape the
gateway's contract allows can be tested without infrastructure; the `on_*` handlers add the database work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg

from intplat_common import ConsumedEvent
from intplat_common.events import CheckoutCompleted, CustomerDetails, InvoicePaid, PaymentFailed

from .. import customers, ledger
from ..customers import Contact
from ..ledger import valid_address
from ..ports import CustomerDirectory
from ..rendering import Locale, pick_locale
from .routing import router

log = logging.getLogger(__name__)

MAX_LINES = 50


@dataclass(frozen=True)
class EventContext:
    directory: CustomerDirectory
    default_locale: Locale = "en"
    instagram_reconnect_url: str = "http://127.0.0.1:3000/instagram/reconnect"
    # How long a mail for a customer whose address nobody told us yet waits for an event that brings it.
    recipient_wait_seconds: float = 86400.0


@dataclass(frozen=True)
class PlannedMail:
    template: str
    model: dict[str, Any] = field(default_factory=dict)


def safe_url(url: str | None) -> str | None:
    """Links from events end up in an href: only http(s) passes."""
    return url if url and url.startswith(("https://", "http://")) and len(url) <= 2000 else None


def contact_of(details: CustomerDetails | None) -> Contact:
    if details is None:
        return Contact(None, None, None)
    return Contact(details.email.strip() if details.email else None, details.name, details.locale)


def dedupe_key(consumed: ConsumedEvent, template: str, recipient: str | None) -> str:
    return f"{consumed.event.source}#{consumed.event.id}:{template}:{ledger.normalize_address(recipient or '-')}"


async def record_mail(
    conn: asyncpg.Connection,
    consumed: ConsumedEvent,
    mail: PlannedMail,
    contact: Contact,
    *,
    customer_id: str | None,
    default_locale: Locale,
    recipient_wait_seconds: float | None = None,
) -> ledger.InsertResult:
    """Record the mail; without an address it waits `recipient_wait_seconds` for one when the customer is known."""
    undeliverable = None
    can_wait = bool(customer_id and recipient_wait_seconds)
    if not contact.email and can_wait:
        assert customer_id is not None
        contact = replace(contact, email=await customers.expect_address(conn, customer_id))
    if not contact.email:
        if not can_wait:
            who = f"customer {customer_id}" if customer_id else "this event"
            undeliverable = f"no e-mail address known for {who} (not in the event, our records or Stripe)"
    elif not valid_address(contact.email):
        undeliverable = f"not a usable e-mail address: {contact.email[:254]!r}"
    locale = pick_locale(contact.locale, default_locale)
    result = await ledger.insert(
        conn,
        ledger.NewMessage(
            dedupe_key=dedupe_key(consumed, mail.template, contact.email),
            origin="event",
            template=mail.template,
            locale=locale,
            recipient=contact.email if undeliverable is None else None,
            recipient_name=contact.name,
            customer_id=customer_id,
            model={**mail.model, "name": contact.name},
            source_ref=consumed.event.id,
            undeliverable=undeliverable,
            recipient_wait_seconds=recipient_wait_seconds,
        ),
    )
    log.info(
        "mail recorded",
        extra={
            "fields": {
                "message_id": str(result.message.id),
                "template": mail.template,
                "status": result.message.status,
                "created": result.created,
                "event_id": consumed.event.id,
            }
        },
    )
    return result


# --- checkout.session.completed -------------------------------------------------------------------------------


def plan_checkout(event: CheckoutCompleted) -> PlannedMail | str:
    if event.status != "complete":
        return f"checkout session is {event.status}, not complete"
    if event.mode == "setup":
        return "setup-mode checkout: nothing was bought"
    items = [
        {"description": item.description, "quantity": item.quantity, "amount_total": item.amount_total}
        for item in (event.line_items or ())[:MAX_LINES]
    ]
    order_reference = event.metadata.get("order_id") or event.metadata.get("order")
    return PlannedMail(
        "order_confirmation",
        {
            "paid": event.payment_status in ("paid", "no_payment_required"),
            "mode": event.mode,
            "order_reference": order_reference,
            "checkout_session_id": event.checkout_session_id,
            "currency": event.currency,
            "amount_subtotal": event.amount_subtotal,
            "amount_discount": event.amount_discount,
            "amount_tax": event.amount_tax,
            "amount_total": event.amount_total,
            "line_items": items,
            "invoice_follows": event.mode == "subscription" or event.invoice_id is not None,
        },
    )


@router.on(CheckoutCompleted)
async def on_checkout_completed(
    conn: asyncpg.Connection, consumed: ConsumedEvent, event: CheckoutCompleted, context: EventContext
) -> None:
    given = contact_of(event.customer)
    if event.customer_id:
        await customers.remember(conn, event.customer_id, given, source="checkout", observed_at=event.stripe_created)
    await _record_planned(conn, consumed, plan_checkout(event), given, event.customer_id, context)


# --- invoice.paid -----------------------------------------------------------------------------------------------


def plan_invoice(event: InvoicePaid) -> PlannedMail | str:
    if event.amount_paid <= 0:
        return "nothing was paid (e.g. a trial or fully discounted invoice)"
    lines = [
        {"description": line.description, "quantity": line.quantity, "amount": line.amount}
        for line in event.lines[:MAX_LINES]
    ]
    return PlannedMail(
        "invoice_receipt",
        {
            "invoice_id": event.invoice_id,
            "invoice_number": event.invoice_number,
            "currency": event.currency,
            "amount_paid": event.amount_paid,
            "total_tax": event.total_tax,
            "paid_at": (event.paid_at or event.stripe_created).isoformat(),
            "lines": lines,
            "hosted_invoice_url": safe_url(event.hosted_invoice_url),
            "invoice_pdf_url": safe_url(event.invoice_pdf_url),
        },
    )


@router.on(InvoicePaid)
async def on_invoice_paid(
    conn: asyncpg.Connection, consumed: ConsumedEvent, event: InvoicePaid, context: EventContext
) -> None:
    given = contact_of(event.customer)
    await customers.remember(conn, event.customer_id, given, source="invoice", observed_at=event.stripe_created)
    await _record_planned(conn, consumed, plan_invoice(event), given, event.customer_id, context)


# --- payment_intent.payment_failed ------------------------------------------------------------------------------


def plan_payment_failed(event: PaymentFailed) -> PlannedMail | str:
    return PlannedMail(
        "payment_failed",
        {
            "payment_intent_id": event.payment_intent_id,
            "currency": event.currency,
            "amount": event.amount,
            "description": event.description,
            "decline_code": event.decline_code,
            "failure_code": event.failure_code,
            "card_brand": event.card_brand.title() if event.card_brand else None,
            "card_last4": event.card_last4,
            # The link is made when the mail is rendered: portal sessions expire within minutes.
            "portal_customer_id": event.customer_id,
            "portal_url": None,
        },
    )


@router.on(PaymentFailed)
async def on_payment_failed(
    conn: asyncpg.Connection, consumed: ConsumedEvent, event: PaymentFailed, context: EventContext
) -> None:
    given = contact_of(event.customer)
    if event.customer_id:
        await customers.remember(conn, event.customer_id, given, source="payment", observed_at=event.stripe_created)
    await _record_planned(conn, consumed, plan_payment_failed(event), given, event.customer_id, context)


async def _record_planned(
    conn: asyncpg.Connection,
    consumed: ConsumedEvent,
    plan: PlannedMail | str,
    given: Contact,
    customer_id: str | None,
    context: EventContext,
) -> None:
    if isinstance(plan, str):
        log.info("no mail for event", extra={"fields": {"event_id": consumed.event.id, "reason": plan}})
        return
    contact = await customers.resolve(conn, customer_id, given, context.directory)
    await record_mail(
        conn,
        consumed,
        plan,
        contact,
        customer_id=customer_id,
        default_locale=context.default_locale,
        recipient_wait_seconds=context.recipient_wait_seconds,
    )
