"""The booker: the bridge's effect rows (effects.py) carried out in Lexoffice by the shared effect worker.

`LexofficeBooking` is the `EffectProvider`: per row kind, what the call is, what each answer means, and how an
earlier call that may have taken effect is found (`find_existing`: the contact by e-mail, the voucher by its number
in the voucherlist, the file on the voucher) before anything is created again. Every call goes through the client,
paced by the shared token bucket. Each step done is recorded once in `booking_ledger`; the attached file also
publishes `bookkeeping.document.synced.v1` through the outbox, in the same transaction. The rows of booking path 2
(a Lexoffice invoice per paid checkout) are handed to `checkout.InvoiceBooking`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from intplat_common import AsyncCircuitBreaker, OutboxMessage
from intplat_common.effects import AlertHook, EffectWorker, EffectWorkerConfig, Outcome, ProviderUnavailable
from intplat_common.events import BookkeepingDocumentSynced

from . import chain, checkout, contact_gone, contacts, credit_notes, effects, ledger
from .checkout import InvoiceBooking
from .contacts import ContactLink
from .credit_notes import CreditCall, CreditSteps
from .effects import EFFECTS, Effect
from .ledger import EntryKind, LedgerEntry
from .pdfs import InvoicePdfs, PdfUnavailable
from .planning import BookingRules, ContactPlan, ManualBooking, SalePlan, contact_body, euros, voucher_body
from .ports import Document, FileTooLarge, LexofficeApi, LexofficeError
from .synced_events import synced_outbox_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What one row does: the body to send and the ids it builds on."""

    body: Document | None = None
    contact_id: str | None = None
    voucher_id: str | None = None


Call = Step | CreditCall


class LexofficeBooking:
    """`EffectProvider` of the bridge: contacts, vouchers and their files; refunds' credit documents
    (credit_notes.py)."""

    name = "lexoffice"
    max_batch = 1  # Lexoffice has no batch calls

    def __init__(
        self,
        pool: asyncpg.Pool,
        api: LexofficeApi,
        pdfs: InvoicePdfs,
        *,
        rules: BookingRules,
        bridge_url: str,
    ) -> None:
        self._pool = pool
        self._api = api
        self._pdfs = pdfs
        self._rules = rules
        self._credits = CreditSteps(pool, api, pdfs, rules)
        self._invoices = InvoiceBooking(pool, api, rules, bridge_url=bridge_url)  # booking path 2 (checkout.py)

    def row(self, record: asyncpg.Record) -> Effect:
        return Effect.from_record(record)

    def labels(self, row: Effect) -> Mapping[str, str]:
        return {"kind": row.kind}

    # --- look-up after an ambiguous outcome -----------------------------------------------------------------------

    async def find_existing(self, row: Effect) -> str | None:
        if row.kind in credit_notes.KINDS:
            return await self._credits.find_existing(row)
        if row.kind in checkout.KINDS:
            return await self._invoices.find_existing(row)
        if row.kind == "contact":
            plan = ContactPlan.from_payload(row.payload)
            link = await contacts.find(self._pool, plan.customer_id)
            if link is not None:
                return link.lexoffice_contact_id
            found = await self._api.find_contact_by_email(plan.email) if plan.email else None
            if found is None:
                return None
            return (await self._linked(plan, str(found["id"]), int(found.get("version") or 0))).lexoffice_contact_id
        sale = SalePlan.from_payload(row.payload)
        if row.kind == "voucher":
            vouchers = await self._api.find_vouchers(sale.invoice_number)
            if not vouchers:
                return None
            await self._booked(sale, vouchers[0].id, vouchers[0].contact_id, found=True)
            return vouchers[0].id
        booked = await ledger.booked_voucher(self._pool, sale.invoice_id)
        if booked is None:
            return None
        voucher = await self._api.get_voucher(booked["lexoffice_id"])
        files = [str(f) for f in voucher.get("files") or []]
        if not files:
            return None
        await self._attached(sale, str(booked["lexoffice_id"]), booked["details"].get("contact_id"), files[0])
        return files[0]

    # --- what to send -------------------------------------------------------------------------------------------

    async def prepare(self, rows: Sequence[Effect]) -> list[Call | Outcome]:
        prepared: list[Call | Outcome] = []
        for row in rows:
            try:
                prepared.append(await self._prepare(row))
            except ProviderUnavailable as exc:
                prepared.append(Outcome.retry(f"posting categories: {exc}", retry_after=exc.retry_after))
            except LexofficeError as exc:
                prepared.append(Outcome.retry(f"posting categories: {exc}", code=exc.status))
        return prepared

    async def _prepare(self, row: Effect) -> Call | Outcome:
        if row.kind in credit_notes.KINDS:
            return await self._credits.prepare(row)
        if row.kind in checkout.KINDS:
            prepared = await self._invoices.prepare(row)
            return prepared if isinstance(prepared, Outcome) else Step(body=prepared)
        if row.kind == "contact":
            link = await contacts.find(self._pool, row.payload["customer_id"])
            if link is not None:
                await effects.vouchers_of_customer_due(self._pool, link.stripe_customer_id)
                return Outcome.done(link.lexoffice_contact_id)
            return Step(body=contact_body(ContactPlan.from_payload(row.payload)))
        sale = SalePlan.from_payload(row.payload)
        booked = await ledger.booked_voucher(self._pool, sale.invoice_id)
        if row.kind == "voucher":
            if booked is not None:
                return Outcome.done(booked["lexoffice_id"])
            link = await contacts.find(self._pool, sale.customer_id)
            if link is None:
                contact = effects.contact_key(sale.customer_id)
                return await self._wait_for(row, sale, contact, chain.contact_linked(self._pool, sale.customer_id))
            category = self._rules.category(await self._api.posting_categories(), sale.tax_type)
            if isinstance(category, ManualBooking):
                return await self._failed(row, sale, category.reason)
            body = voucher_body(sale, contact_id=link.lexoffice_contact_id, category_id=category)
            return Step(body=body, contact_id=link.lexoffice_contact_id)
        if booked is None:
            voucher = effects.voucher_key(sale.invoice_number)
            return await self._wait_for(row, sale, voucher, chain.document_booked(self._pool, sale.invoice_id))
        return Step(voucher_id=booked["lexoffice_id"], contact_id=booked["details"].get("contact_id"))

    async def _wait_for(self, row: Effect, sale: SalePlan, earlier: str, met: Callable[[], Awaitable[bool]]) -> Outcome:
        async def failed(reason: str) -> Outcome:
            return await self._failed(row, sale, reason)

        return await chain.wait_for(
            self._pool, row, earlier, deadline_seconds=self._rules.wait_seconds, met=met, failed=failed
        )

    # --- the calls ----------------------------------------------------------------------------------------------

    async def attempt(self, row: Effect, call: Call) -> Outcome:
        if isinstance(call, CreditCall):
            return await self._credits.attempt(row, call)
        if row.kind in checkout.KINDS:
            return await self._invoices.attempt(row, call.body)
        try:
            if row.kind == "contact":
                return await self._ensure_contact(ContactPlan.from_payload(row.payload), call)
            sale = SalePlan.from_payload(row.payload)
            if row.kind == "voucher":
                assert call.body is not None
                created = await self._api.create_voucher(call.body)
                await self._booked(sale, created.id, call.contact_id, found=False)
                return Outcome.done(created.id)
            assert call.voucher_id is not None
            return await self._attach(row, sale, call.voucher_id, call.contact_id)
        except LexofficeError as exc:
            answer = exc.body if isinstance(exc.body, dict) else {"body": exc.body}
            if row.kind == "voucher":
                sale = SalePlan.from_payload(row.payload)
                if await contact_gone.relinked(
                    self._pool, self._api, exc, customer_id=sale.customer_id, contact_id=call.contact_id
                ):
                    contact = effects.contact_key(sale.customer_id)
                    return await self._wait_for(row, sale, contact, chain.contact_linked(self._pool, sale.customer_id))
            if row.kind == "contact":
                customer = ContactPlan.from_payload(row.payload).customer_id
                dead = Outcome.dead(str(exc), code=exc.status, answer=answer)
                return await chain.end_dead(
                    self._pool, row, dead, lambda: effects.vouchers_of_customer_due(self._pool, customer)
                )
            return await self._failed(row, SalePlan.from_payload(row.payload), str(exc), exc.status, answer)

    async def attempt_batch(self, items: Sequence[tuple[Effect, Call]]) -> list[Outcome]:
        return [await self.attempt(row, call) for row, call in items]

    async def _ensure_contact(self, plan: ContactPlan, call: Step) -> Outcome:
        """Found by e-mail (exact match) or created; a contact is created once per customer."""
        found = await self._api.find_contact_by_email(plan.email) if plan.email else None
        if found is not None:
            link = await self._linked(plan, str(found["id"]), int(found.get("version") or 0))
        else:
            assert call.body is not None
            created = await self._api.create_contact(call.body)
            link = await self._linked(plan, created.id, created.version or 0)
        return Outcome.done(link.lexoffice_contact_id)

    async def _linked(self, plan: ContactPlan, contact_id: str, version: int) -> ContactLink:
        link = await contacts.link(self._pool, ContactLink(plan.customer_id, contact_id, plan.email, version))
        await effects.vouchers_of_customer_due(self._pool, plan.customer_id)
        return link

    async def _attach(self, row: Effect, sale: SalePlan, voucher_id: str, contact_id: str | None) -> Outcome:
        try:
            content = await self._pdfs.fetch(sale.pdf_url)
            file_id = await self._api.upload_voucher_file(voucher_id, content, filename=f"{sale.invoice_number}.pdf")
        except PdfUnavailable as exc:
            if not exc.permanent:
                return Outcome.retry(str(exc))
            return await self._failed(row, sale, str(exc))
        except FileTooLarge as exc:
            return await self._failed(row, sale, str(exc))
        await self._attached(sale, voucher_id, contact_id, file_id)
        return Outcome.done(file_id)

    # --- the record -----------------------------------------------------------------------------------------------

    async def _booked(self, sale: SalePlan, voucher_id: str, contact_id: str | None, *, found: bool) -> None:
        entry = sale_entry(
            sale,
            "booked",
            lexoffice_id=voucher_id,
            details={"contact_id": contact_id, "found_after_ambiguous_create": found},
        )
        await ledger.record_once(self._pool, entry)
        await self._dependants_due(sale)

    async def _attached(self, sale: SalePlan, voucher_id: str, contact_id: str | None, file_id: str) -> None:
        entry = sale_entry(sale, "file_attached", lexoffice_id=voucher_id, details={"file_id": file_id})
        await ledger.record_once(self._pool, entry, [synced_message(sale, voucher_id, contact_id)])

    async def _failed(
        self, row: Effect, sale: SalePlan, reason: str, code: int | None = None, answer: Mapping[str, Any] | None = None
    ) -> Outcome:
        details = {"step": row.kind, "status": code, "answer": dict(answer) if answer else None}
        entry = sale_entry(sale, "failed", reason=reason, details=details)
        await ledger.record(self._pool, entry)
        dead = Outcome.dead(reason, code=code, answer=answer)
        return await chain.end_dead(self._pool, row, dead, lambda: self._dependants_due(sale))

    async def _dependants_due(self, sale: SalePlan) -> None:
        """Its file, and the refunds that wait for the invoice, look again (it was booked or failed)."""
        await effects.file_due(self._pool, sale.invoice_number)
        await effects.refunds_due(self._pool, sale.invoice_id)


def sale_entry(
    sale: SalePlan,
    kind: EntryKind,
    *,
    details: Mapping[str, Any],
    lexoffice_id: str | None = None,
    reason: str | None = None,
) -> LedgerEntry:
    """A ledger row of a paid Stripe invoice's voucher: what every step records about the sale, and its own part."""
    return LedgerEntry(
        document_key=sale.invoice_id,
        source="stripe_invoice",
        kind=kind,
        document_type="voucher",
        lexoffice_id=lexoffice_id,
        voucher_number=sale.invoice_number,
        amount=euros(sale.total),
        currency=sale.currency,
        reason=reason,
        details=details,
    )


def synced_message(sale: SalePlan, voucher_id: str, contact_id: str | None) -> OutboxMessage:
    now = datetime.now(UTC)
    event = BookkeepingDocumentSynced(
        source_type="stripe_invoice",
        source_id=sale.invoice_id,
        stripe_event_id=sale.stripe_event_id,
        stripe_customer_id=sale.customer_id,
        stripe_invoice_number=sale.invoice_number,
        lexoffice_document_id=voucher_id,
        lexoffice_contact_id=contact_id,
        document_type="voucher",
        voucher_number=sale.invoice_number,
        voucher_date=date.fromisoformat(sale.voucher_date),
        voucher_status="open",
        currency=sale.currency.lower(),
        total_gross_amount=sale.total,
        total_net_amount=sale.total - sale.tax,
        total_tax_amount=sale.tax,
        pdf_attached=True,
        synced_at=now,
    )
    return synced_outbox_message(event, event_id=f"voucher-{voucher_id}", now=now)


class Booker(EffectWorker[Effect, Call]):
    """The effect worker on `lexoffice_effects` with the Lexoffice plugin."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        api: LexofficeApi,
        pdfs: InvoicePdfs,
        *,
        rules: BookingRules,
        bridge_url: str,
        config: EffectWorkerConfig | None = None,
        alert: AlertHook | None = None,
        breakers: Sequence[AsyncCircuitBreaker] = (),
    ) -> None:
        provider = LexofficeBooking(pool, api, pdfs, rules=rules, bridge_url=bridge_url)
        super().__init__("lexoffice-bridge", pool, EFFECTS, provider, config=config, alert=alert, breakers=breakers)
