"""Booking path 2 in the booker: a paid checkout without a Stripe invoice → one finalized Lexoffice invoice → its
PDF stored here → `bookkeeping.document.synced.v1` (with the PDF's address at this service) for the notifier.

Rows (effects.py), each written once by the consumer (consumers/checkouts.py):
  contact:{stripe customer}     path 1's contact step (none for a guest: the invoice has a one-time address)
  invoice:{checkout session}    `POST /v1/invoices?finalize=true` (waits for the contact)
  invoice_file:{session}        `GET /v1/invoices/{id}/file`, stored with its ledger row and the synced event in one
                                transaction (waits for the invoice)
A step waits as path 1's do (chain.py: parked without calls, woken by the earlier step, dead when it is dead). The
booked invoice makes the refunds waiting for it due (their credit note refers to it, credit_notes.py).

Exactly once without idempotency keys (a second finalized invoice for one sale is a second VAT liability, §14c
UStG): Lexoffice numbers invoices itself, so after an ambiguous create (timeout, 504 after commit, reset) the
invoice is looked up by what we sent: the voucherlist's invoices of its date (and contact) with its total, then
each candidate's `remark`, which carries the checkout session id (`invoicing.marker`). Only when none carries it
is the invoice created again; a look-up Lexoffice refuses (e.g. more than 10,000 results) leaves the row `manual`
with a `needs_manual_booking` ledger row and an alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from intplat_common import OutboxMessage
from intplat_common.effects import Alert, Outcome
from intplat_common.events import BookkeepingDocumentSynced

from . import chain, contact_gone, contacts, document_files, effects, ledger
from .document_files import DocumentFile
from .effects import Effect, EffectKind
from .invoicing import CheckoutSale, invoice_body, marker
from .ledger import EntryKind, LedgerEntry
from .planning import BookingRules, ContactPlan, euros
from .ports import Document, LexofficeApi, LexofficeError
from .synced_events import synced_outbox_message

KINDS: frozenset[str] = frozenset({"invoice", "invoice_file"})


def invoice_key(session_id: str) -> str:
    return f"invoice:{session_id}"


def invoice_file_key(session_id: str) -> str:
    return f"invoice_file:{session_id}"


async def record_checkout(conn: asyncpg.Connection, sale: CheckoutSale, contact: ContactPlan | None) -> set[str]:
    """The checkout's effect rows in the caller's transaction; returns the keys that were new. `contact` is None
    when the customer's contact is linked already, or for a guest."""
    intents: list[tuple[str, EffectKind, Mapping[str, Any]]] = []
    if contact is not None:
        intents.append((effects.contact_key(contact.customer_id), "contact", contact.payload()))
    intents.append((invoice_key(sale.session_id), "invoice", sale.payload()))
    intents.append((invoice_file_key(sale.session_id), "invoice_file", sale.payload()))
    return await effects.record_intents(conn, intents)


class InvoiceBooking:
    """The booker's part for `invoice` and `invoice_file` rows (`booker.LexofficeBooking` hands them here)."""

    def __init__(self, pool: asyncpg.Pool, api: LexofficeApi, rules: BookingRules, *, bridge_url: str) -> None:
        self._pool = pool
        self._api = api
        self._wait_seconds = rules.wait_seconds
        self._bridge_url = bridge_url.rstrip("/")
        # Rows whose look-up could not settle whether the invoice exists (set by find_existing, taken by prepare in
        # the same round): a human decides, the invoice is never created blindly.
        self._undecided: dict[uuid.UUID, str] = {}

    async def find_existing(self, row: Effect) -> str | None:
        sale = CheckoutSale.from_payload(row.payload)
        booked = await ledger.booked_voucher(self._pool, sale.session_id)
        if row.kind == "invoice_file":
            if booked is None:
                return None
            stored = await document_files.find(self._pool, booked["lexoffice_id"])
            return stored.lexoffice_id if stored is not None else None
        if booked is not None:
            return str(booked["lexoffice_id"])
        contact_id = await self._contact_id(sale)
        if sale.customer_id is not None and contact_id is None:
            return None  # an invoice for a customer is created only once its contact is linked
        try:
            found = await self._find_invoice(sale, contact_id)
        except LexofficeError as exc:
            self._undecided[row.id] = f"cannot tell whether the invoice was created: the look-up was refused: {exc}"
            return None
        if found is not None:
            await self._booked(sale, found, contact_id, found=True)
        return found

    async def _find_invoice(self, sale: CheckoutSale, contact_id: str | None) -> str | None:
        """The invoice created for this checkout, identified by its marker; candidates are read one by one.

        The invoices of the day with its total include every one this bridge booked for other checkouts (all of a
        shop's sales of one price, for a guest): those are known not to be this one and are not read, so a look-up
        costs a call per invoice nobody here recorded, not one per sale of the day (at 2 requests/s)."""
        total = float(euros(sale.total))
        candidates = [
            candidate
            for candidate in await self._api.find_invoices(sale.voucher_date, contact_id=contact_id)
            if candidate.total_amount is None or candidate.total_amount == total
        ]
        others = await ledger.booked_elsewhere(self._pool, [c.id for c in candidates], sale.session_id)
        for candidate in candidates:
            if candidate.id in others:
                continue
            invoice = await self._api.get_invoice(candidate.id)
            if marker(sale.session_id) in str(invoice.get("remark") or ""):
                return candidate.id
        return None

    async def prepare(self, row: Effect) -> Document | Outcome | None:
        sale = CheckoutSale.from_payload(row.payload)
        booked = await ledger.booked_voucher(self._pool, sale.session_id)
        if row.kind == "invoice":
            if booked is not None:
                return Outcome.done(booked["lexoffice_id"])
            if (reason := self._undecided.pop(row.id, None)) is not None:
                return await self._manual(row, sale, reason)
            contact_id = await self._contact_id(sale)
            if sale.customer_id is not None and contact_id is None:
                contact = effects.contact_key(sale.customer_id)
                return await self._wait_for(row, sale, contact, chain.contact_linked(self._pool, sale.customer_id))
            return invoice_body(sale, contact_id=contact_id)
        if booked is None:
            invoice = invoice_key(sale.session_id)
            return await self._wait_for(row, sale, invoice, chain.document_booked(self._pool, sale.session_id))
        return None

    async def _wait_for(
        self, row: Effect, sale: CheckoutSale, earlier: str, met: Callable[[], Awaitable[bool]]
    ) -> Outcome:
        async def failed(reason: str) -> Outcome:
            return await self._failed(row, sale, reason)

        return await chain.wait_for(
            self._pool, row, earlier, deadline_seconds=self._wait_seconds, met=met, failed=failed
        )

    async def attempt(self, row: Effect, body: Document | None) -> Outcome:
        sale = CheckoutSale.from_payload(row.payload)
        try:
            if row.kind == "invoice":
                assert body is not None
                created = await self._api.create_invoice(body)
                contact_id = body["address"].get("contactId")
                await self._booked(sale, created.id, contact_id, found=False)
                return Outcome.done(created.id)
            booked = await ledger.booked_voucher(self._pool, sale.session_id)
            assert booked is not None  # prepared only once booked
            return await self._store_pdf(row, sale, str(booked["lexoffice_id"]), booked["details"].get("contact_id"))
        except LexofficeError as exc:
            if row.kind == "invoice" and sale.customer_id is not None and body is not None:
                contact_id = body["address"].get("contactId")
                if await contact_gone.relinked(
                    self._pool, self._api, exc, customer_id=sale.customer_id, contact_id=contact_id
                ):
                    contact = effects.contact_key(sale.customer_id)
                    return await self._wait_for(row, sale, contact, chain.contact_linked(self._pool, sale.customer_id))
            answer = exc.body if isinstance(exc.body, dict) else {"body": exc.body}
            return await self._failed(row, sale, str(exc), exc.status, answer)

    async def _store_pdf(self, row: Effect, sale: CheckoutSale, invoice_id: str, contact_id: str | None) -> Outcome:
        content = await self._api.invoice_pdf(invoice_id)
        if not content.startswith(b"%PDF"):
            return await self._failed(row, sale, f"the file of invoice {invoice_id} is not a PDF")
        file = DocumentFile(
            lexoffice_id=invoice_id,
            document_key=sale.session_id,
            document_type="invoice",
            filename=f"Rechnung-{sale.voucher_date}.pdf",
            content_type="application/pdf",
            content=content,
        )
        entry = self._entry(sale, "file_attached", lexoffice_id=invoice_id, details={"pdf_bytes": len(content)})
        url = f"{self._bridge_url}{document_files.file_path(invoice_id)}"
        async with self._pool.acquire() as conn, conn.transaction():
            if await ledger.record_once_in(conn, entry, [synced_message(sale, invoice_id, contact_id, url)]):
                await document_files.store(conn, file)
        return Outcome.done(invoice_id)

    async def _contact_id(self, sale: CheckoutSale) -> str | None:
        if sale.customer_id is None:
            return None
        link = await contacts.find(self._pool, sale.customer_id)
        return link.lexoffice_contact_id if link is not None else None

    # --- the record -----------------------------------------------------------------------------------------------

    def _entry(self, sale: CheckoutSale, kind: EntryKind, **fields: Any) -> LedgerEntry:
        return LedgerEntry(
            document_key=sale.session_id,
            source="stripe_checkout",
            kind=kind,
            document_type="invoice",
            amount=euros(sale.total),
            currency=sale.currency,
            **fields,
        )

    async def _booked(self, sale: CheckoutSale, invoice_id: str, contact_id: str | None, *, found: bool) -> None:
        details = {
            "contact_id": contact_id,
            "payment_intent_id": sale.payment_intent_id,  # what a refund names its original by
            "found_after_ambiguous_create": found,
        }
        await ledger.record_once(self._pool, self._entry(sale, "booked", lexoffice_id=invoice_id, details=details))
        await self._dependants_due(sale)

    async def _dependants_due(self, sale: CheckoutSale) -> None:
        """Its file, and the refunds that wait for the invoice, look again (it was booked, failed or left to a
        human)."""
        await effects.make_due(self._pool, "effect_key = $1", invoice_file_key(sale.session_id))
        await effects.refunds_due(self._pool, sale.session_id)

    async def _manual(self, row: Effect, sale: CheckoutSale, reason: str) -> Outcome:
        """A create that may have taken effect and cannot be found for certain: never created again automatically."""
        await ledger.record(self._pool, self._entry(sale, "needs_manual_booking", reason=reason))
        text = f"Stripe checkout {sale.session_id}: {reason}; check Lexoffice and book it manually"
        manual = Outcome.dead(reason, status="manual", alert=Alert("lexoffice_manual_booking", text))
        return await chain.end_dead(self._pool, row, manual, lambda: self._dependants_due(sale))

    async def _failed(
        self,
        row: Effect,
        sale: CheckoutSale,
        reason: str,
        code: int | None = None,
        answer: Mapping[str, Any] | None = None,
    ) -> Outcome:
        details = {"step": row.kind, "status": code, "answer": dict(answer) if answer else None}
        await ledger.record(self._pool, self._entry(sale, "failed", reason=reason, details=details))
        dead = Outcome.dead(reason, code=code, answer=answer)
        return await chain.end_dead(self._pool, row, dead, lambda: self._dependants_due(sale))


def synced_message(sale: CheckoutSale, invoice_id: str, contact_id: str | None, file_url: str) -> OutboxMessage:
    now = datetime.now(UTC)
    event = BookkeepingDocumentSynced(
        source_type="stripe_checkout_session",
        source_id=sale.session_id,
        stripe_event_id=sale.stripe_event_id,
        stripe_customer_id=sale.customer_id,
        lexoffice_document_id=invoice_id,
        lexoffice_contact_id=contact_id,
        document_type="invoice",
        voucher_date=date.fromisoformat(sale.voucher_date),
        voucher_status="open",
        currency="eur",
        total_gross_amount=sale.total,
        total_net_amount=sale.total - sale.tax,
        total_tax_amount=sale.tax,
        pdf_attached=True,
        synced_at=now,
        document_file_url=file_url,
        customer_email=sale.email,
        customer_locale=sale.locale,
    )
    # One document, one event id: the notifier mails each document once.
    return synced_outbox_message(event, event_id=f"invoice-{invoice_id}", now=now)


__all__ = ["KINDS", "InvoiceBooking", "invoice_file_key", "invoice_key", "record_checkout", "synced_message"]
