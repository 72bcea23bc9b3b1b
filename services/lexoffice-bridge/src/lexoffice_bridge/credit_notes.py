"""The booker's steps for refunds (`credit` and `credit_file` rows): a credit document referring to the original.

The original booked as a salesinvoice voucher (path 1) gets a `salescreditnote` voucher: its `voucherNumber` is the
Stripe credit note's number (the dedupe key, looked up in the voucherlist after an ambiguous create), its contact the
original's, its remark names the original; Stripe's credit note PDF is attached. The original booked as a Lexoffice
invoice (path 2) gets a finalized Lexoffice credit note with `precedingSalesVoucherId` (one per invoice: after an
ambiguous create it is found among the invoice's `relatedVouchers`). Until the original is booked the step waits (at
most `BookingRules.original_wait_seconds` from the refund's arrival, then a human books it); a plain refund of a
Stripe invoice waits for the Stripe credit note that names it the same way. An original left to a human makes its
refund manual too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from intplat_common import OutboxMessage
from intplat_common.effects import Alert, Outcome
from intplat_common.events import BookkeepingDocumentSynced

from . import chain, effects, ledger, originals
from .effects import Effect
from .ledger import LedgerEntry
from .originals import Original
from .pdfs import InvoicePdfs, PdfUnavailable
from .planning import BookingRules, ManualBooking, SalePlan, TaxGroup, euros
from .ports import Document, FileTooLarge, LexofficeApi, LexofficeError
from .refunds import OriginalVoucher, RefundPlan, credit_note_body, credit_voucher_body, invoice_groups, split_refund
from .synced_events import synced_outbox_message

KINDS = frozenset({"credit", "credit_file"})


@dataclass(frozen=True)
class CreditCall:
    """What one credit row sends: the body, and the original it refers to."""

    original: Original
    groups: tuple[TaxGroup, ...] = ()
    body: Document | None = None
    voucher_id: str | None = None  # the credit voucher a file goes to


class CreditSteps:
    def __init__(
        self,
        pool: asyncpg.Pool,
        api: LexofficeApi,
        pdfs: InvoicePdfs,
        rules: BookingRules,
    ) -> None:
        self._pool = pool
        self._api = api
        self._pdfs = pdfs
        self._rules = rules

    # --- look-up after an ambiguous outcome -----------------------------------------------------------------------

    async def find_existing(self, row: Effect) -> str | None:
        plan = RefundPlan.from_payload(row.payload)
        booked = await ledger.booked_voucher(self._pool, plan.document_key)
        if row.kind == "credit_file":
            if booked is None:
                return None
            files = [str(f) for f in (await self._api.get_voucher(booked["lexoffice_id"])).get("files") or []]
            if files:
                await self._attached(plan, booked, files[0])
            return files[0] if files else None
        if booked is not None:
            return str(booked["lexoffice_id"])
        original = await originals.find(self._pool, plan)
        if original is None or original.state != "booked" or original.lexoffice_id is None:
            return None
        groups = plan.groups
        if original.document_type == "invoice":
            invoice = await self._api.get_invoice(original.lexoffice_id)
            related = [r for r in invoice.get("relatedVouchers") or [] if r.get("voucherType") == "creditnote"]
            found = str(related[0]["id"]) if related else None
            split = groups or split_refund(plan.amount, invoice_groups(invoice))  # as when it was created
            groups = split if not isinstance(split, ManualBooking) else ()
        else:
            vouchers = await self._api.find_vouchers(plan.number, voucher_type="salescreditnote")
            found = vouchers[0].id if vouchers else None
        if found is not None:
            await self._booked(plan, CreditCall(original, groups or ()), found, found_after_ambiguous_create=True)
        return found

    # --- what to send ---------------------------------------------------------------------------------------------

    async def prepare(self, row: Effect) -> CreditCall | Outcome:
        plan = RefundPlan.from_payload(row.payload)
        booked = await ledger.booked_voucher(self._pool, plan.document_key)
        if row.kind == "credit_file":
            if booked is None:
                return await self._wait_for_credit(row, plan)
            return CreditCall(Original(plan.document_key, "booked"), voucher_id=booked["lexoffice_id"])
        if booked is not None:
            return Outcome.done(booked["lexoffice_id"])
        original = await originals.find(self._pool, plan)
        if original is None or original.state == "pending":
            return await self._wait_for_original(row, plan)
        if original.state == "failed":
            return await self._failed(row, plan, f"its original {original.document_key} failed: {original.reason}")
        if original.state == "manual":
            reason = f"its original {original.document_key} is left to manual booking ({original.reason})"
            return await self._manual(row, plan, reason)
        if original.document_type == "invoice":
            return await self._credit_note(row, plan, original)
        if plan.source == "refund":
            # A Stripe invoice is corrected by its Stripe credit note, which names this refund when it comes.
            return await self._wait_for_original(row, plan, for_credit_note=True)
        return await self._credit_voucher(row, plan, original)

    async def _credit_voucher(self, row: Effect, plan: RefundPlan, original: Original) -> CreditCall | Outcome:
        sale = await self._sale(original)
        groups = plan.groups or split_refund(plan.amount, sale.groups)
        if isinstance(groups, ManualBooking):
            return await self._manual(row, plan, groups.reason)
        category = self._rules.category(await self._api.posting_categories(), sale.tax_type)
        if isinstance(category, ManualBooking):
            return await self._failed(row, plan, category.reason)
        voucher = OriginalVoucher(
            original.document_key, str(original.lexoffice_id), str(original.voucher_number), str(original.contact_id)
        )
        return CreditCall(original, tuple(groups), credit_voucher_body(plan, groups, voucher, category_id=category))

    async def _credit_note(self, row: Effect, plan: RefundPlan, original: Original) -> CreditCall | Outcome:
        other = await self._pool.fetchval(
            "SELECT document_key FROM booking_ledger WHERE kind = 'booked' AND document_type = 'credit_note'"
            " AND details->>'original_key' = $1 AND document_key <> $2 LIMIT 1",
            original.document_key,
            plan.document_key,
        )
        if other is not None:
            reason = f"Lexoffice allows one credit note per invoice; {other} is already credited to it"
            return await self._manual(row, plan, reason)
        assert original.lexoffice_id is not None
        invoice = await self._api.get_invoice(original.lexoffice_id)
        groups = plan.groups or split_refund(plan.amount, invoice_groups(invoice))
        if isinstance(groups, ManualBooking):
            return await self._manual(row, plan, groups.reason)
        return CreditCall(original, tuple(groups), credit_note_body(plan, groups, invoice))

    async def _sale(self, original: Original) -> SalePlan:
        key = effects.voucher_key(str(original.voucher_number))
        payload = await self._pool.fetchval("SELECT payload FROM lexoffice_effects WHERE effect_key = $1", key)
        return SalePlan.from_payload(payload)

    async def _wait_for_original(self, row: Effect, plan: RefundPlan, *, for_credit_note: bool = False) -> Outcome:
        key = await originals.original_key(self._pool, plan) or plan.payment_intent_id
        what = f"the original {key} to be booked"
        if for_credit_note:
            what = f"the Stripe credit note of {key} that names this refund"
        # Counted from when the refund arrived here (not when Stripe made it: a replayed backlog still waits).
        left = self._rules.original_wait_seconds - (datetime.now(UTC) - row.created_at).total_seconds()
        if left <= 0:
            waited = self._rules.original_wait_seconds
            return await self._manual(row, plan, f"waited {waited:.0f} s in vain for {what}")

        async def met() -> bool:
            if for_credit_note:
                # Nothing to wake this row for: the credit note's consumer settles it itself (`supersede_refunds`).
                # "The original is booked" holds already here, and waking on it would re-attempt the row at once,
                # over and over until the deadline.
                return False
            found = await originals.find(self._pool, plan)
            return found is not None and found.state != "pending"

        return await chain.park(
            self._pool, row, f"waiting for {what}", deadline_seconds=min(left, self._rules.wait_seconds), met=met
        )

    async def _wait_for_credit(self, row: Effect, plan: RefundPlan) -> Outcome:
        met = chain.document_booked(self._pool, plan.document_key)

        async def failed(reason: str) -> Outcome:
            return await self._failed(row, plan, reason)

        earlier = effects.credit_key(plan.document_key)
        return await chain.wait_for(
            self._pool, row, earlier, deadline_seconds=self._rules.wait_seconds, met=met, failed=failed
        )

    # --- the calls ------------------------------------------------------------------------------------------------

    async def attempt(self, row: Effect, call: CreditCall) -> Outcome:
        plan = RefundPlan.from_payload(row.payload)
        try:
            if row.kind == "credit_file":
                assert call.voucher_id is not None
                return await self._attach(row, plan, call.voucher_id)
            assert call.body is not None
            if call.original.document_type == "invoice":
                created = await self._api.create_credit_note(call.body, preceding_invoice_id=call.original.lexoffice_id)
            else:
                created = await self._api.create_voucher(call.body)
            await self._booked(plan, call, created.id, found_after_ambiguous_create=False)
            return Outcome.done(created.id)
        except LexofficeError as exc:
            answer = exc.body if isinstance(exc.body, dict) else {"body": exc.body}
            return await self._failed(row, plan, str(exc), exc.status, answer)

    async def _attach(self, row: Effect, plan: RefundPlan, voucher_id: str) -> Outcome:
        try:
            content = await self._pdfs.fetch(plan.pdf_url)
            file_id = await self._api.upload_voucher_file(voucher_id, content, filename=f"{plan.number}.pdf")
        except PdfUnavailable as exc:
            if not exc.permanent:
                return Outcome.retry(str(exc))
            return await self._failed(row, plan, str(exc))
        except FileTooLarge as exc:
            return await self._failed(row, plan, str(exc))
        booked = await ledger.booked_voucher(self._pool, plan.document_key)
        assert booked is not None
        await self._attached(plan, booked, file_id)
        return Outcome.done(file_id)

    # --- the record -----------------------------------------------------------------------------------------------

    def _entry(self, plan: RefundPlan, kind: Any, **fields: Any) -> LedgerEntry:
        return LedgerEntry(
            document_key=plan.document_key,
            source="stripe_refund",
            kind=kind,
            document_type="credit_note",
            voucher_number=fields.pop("voucher_number", plan.number),
            amount=euros(plan.amount),
            currency=plan.currency,
            **fields,
        )

    async def _booked(
        self, plan: RefundPlan, call: CreditCall, document_id: str, *, found_after_ambiguous_create: bool
    ) -> None:
        credit_note = call.original.document_type == "invoice"
        details = {
            "original_key": call.original.document_key,
            "original_document_type": call.original.document_type,
            "original_lexoffice_id": call.original.lexoffice_id,
            "original_voucher_number": call.original.voucher_number,
            "contact_id": call.original.contact_id,
            "lexoffice_type": "credit-note" if credit_note else "salescreditnote",
            "groups": [{"rate": g.rate, "net": g.net, "tax": g.tax} for g in call.groups],
            "refund_ids": list(plan.refund_ids),
            "found_after_ambiguous_create": found_after_ambiguous_create,
        }
        entry = self._entry(
            plan, "booked", lexoffice_id=document_id, details=details,
            voucher_number=None if credit_note else plan.number,  # Lexoffice numbers its credit notes
        )  # fmt: skip
        # Without a PDF to attach, the credit document is synced once booked.
        messages = [] if plan.pdf_url else [self._message(plan, details, document_id, pdf_attached=False)]
        await ledger.record_once(self._pool, entry, messages)
        await effects.credit_file_due(self._pool, plan.document_key)

    async def _attached(self, plan: RefundPlan, booked: Mapping[str, Any], file_id: str) -> None:
        entry = self._entry(plan, "file_attached", lexoffice_id=booked["lexoffice_id"], details={"file_id": file_id})
        message = self._message(plan, booked["details"], booked["lexoffice_id"], pdf_attached=True)
        await ledger.record_once(self._pool, entry, [message])

    def _message(
        self, plan: RefundPlan, details: Mapping[str, Any], document_id: str, *, pdf_attached: bool
    ) -> OutboxMessage:
        groups = details.get("groups") or []
        gross = sum(g["net"] + g["tax"] for g in groups)
        tax = sum(g["tax"] for g in groups)
        credit_note = details.get("lexoffice_type") == "credit-note"
        now = datetime.now(UTC)
        event = BookkeepingDocumentSynced(
            source_type="stripe_refund",
            source_id=plan.document_key,
            stripe_event_id=plan.stripe_event_id,
            stripe_customer_id=plan.customer_id,
            stripe_invoice_number=details.get("original_voucher_number"),
            lexoffice_document_id=document_id,
            lexoffice_contact_id=details.get("contact_id"),
            document_type="credit_note",
            voucher_number=None if credit_note else plan.number,
            voucher_date=date.fromisoformat(plan.voucher_date),
            voucher_status="paidoff" if credit_note else "open",
            currency=plan.currency.lower(),
            total_gross_amount=gross,
            total_net_amount=gross - tax,
            total_tax_amount=tax,
            pdf_attached=pdf_attached,
            synced_at=now,
        )
        return synced_outbox_message(event, event_id=f"credit-{document_id}", now=now)

    async def _failed(
        self,
        row: Effect,
        plan: RefundPlan,
        reason: str,
        code: int | None = None,
        answer: Mapping[str, Any] | None = None,
    ) -> Outcome:
        details = {"step": row.kind, "status": code, "answer": dict(answer) if answer else None}
        await ledger.record(self._pool, self._entry(plan, "failed", reason=reason, details=details))
        dead = Outcome.dead(reason, code=code, answer=answer)
        return await chain.end_dead(self._pool, row, dead, self._file_due(plan))

    async def _manual(self, row: Effect, plan: RefundPlan, reason: str) -> Outcome:
        async with self._pool.acquire() as conn:
            await ledger.record_manual_once(conn, self._entry(plan, "needs_manual_booking", reason=reason))
        text = f"Stripe {plan.source.replace('_', ' ')} {plan.document_key} needs manual booking in Lexoffice: {reason}"
        manual = Outcome.dead(reason, status="manual", alert=Alert("lexoffice_manual_booking", text))
        return await chain.end_dead(self._pool, row, manual, self._file_manual(plan))

    def _file_manual(self, plan: RefundPlan) -> Callable[[], Awaitable[None]]:
        """A human books the credit document, so its receipt too: the file row ends manual without a call."""
        reason = f"the earlier step {effects.credit_key(plan.document_key)} is manual"
        return lambda: effects.end_waiting(self._pool, effects.credit_file_key(plan.document_key), "manual", reason)

    def _file_due(self, plan: RefundPlan) -> Callable[[], Awaitable[None]]:
        """A credit voucher's file row looks again when its credit step ended."""
        return lambda: effects.credit_file_due(self._pool, plan.document_key)
