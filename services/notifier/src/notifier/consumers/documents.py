"""`bookkeeping.document.synced.v1` → the customer's copy of a document Lexoffice issued for them: the invoice of a
checkout (booking path 2 of lexoffice-bridge), mailed once per document with its PDF attached.

The PDF stays at the bridge until the mail is sent: the row holds its URL, and the sender fetches it (a bridge that
is down delays the mail, it never drops it). The event's id is the document's, so the mail's dedupe key is too.
Vouchers (Stripe issued the invoice and mailed it) and other documents get no mail here.
"""

from __future__ import annotations

import logging

import asyncpg

from intplat_common import ConsumedEvent
from intplat_common.events import BookkeepingDocumentSynced

from .. import customers
from ..customers import Contact
from .billing import EventContext, PlannedMail, record_mail, safe_url
from .routing import router

log = logging.getLogger(__name__)


def plan_document_mail(event: BookkeepingDocumentSynced) -> PlannedMail | str:
    if event.source_type != "stripe_checkout_session" or event.document_type != "invoice":
        return f"{event.document_type} for a {event.source_type}: the customer has their document from Stripe"
    url = safe_url(event.document_file_url)
    if url is None:
        return "the event names no file of the document"
    return PlannedMail(
        "checkout_invoice",
        {
            "checkout_session_id": event.source_id,
            "lexoffice_document_id": event.lexoffice_document_id,
            "voucher_date": event.voucher_date.isoformat(),
            "currency": event.currency,
            "total_gross_amount": event.total_gross_amount,
            "total_tax_amount": event.total_tax_amount,
            # Fetched and attached when the mail is sent; never shown (an internal address).
            "document_file_url": url,
        },
    )


@router.on(BookkeepingDocumentSynced)
async def on_document_synced(
    conn: asyncpg.Connection, consumed: ConsumedEvent, event: BookkeepingDocumentSynced, context: EventContext
) -> None:
    plan = plan_document_mail(event)
    if isinstance(plan, str):
        log.info("no mail for document", extra={"fields": {"event_id": consumed.event.id, "reason": plan}})
        return
    given = Contact(event.customer_email.strip() if event.customer_email else None, None, event.customer_locale)
    contact = await customers.resolve(conn, event.stripe_customer_id, given, context.directory)
    await record_mail(
        conn,
        consumed,
        plan,
        contact,
        customer_id=event.stripe_customer_id,
        default_locale=context.default_locale,
        recipient_wait_seconds=context.recipient_wait_seconds,
    )
