"""What a refund becomes in Lexoffice, as pure functions: its amounts per tax rate and the credit document's body.

A Stripe credit note (the correction of a Stripe invoice) carries Stripe's amounts per tax rate: they are booked as
they are. A plain refund carries only its gross amount: the whole of the original is its groups; a part of an
original with one tax rate is that rate's share of the gross (rounded half up to the cent, as Lexoffice computes in
gross mode); a part of an original with several rates is split in proportion only when every share comes out in
whole cents; otherwise the refund needs a human. The original booked as a bookkeeping voucher (booking path 1) gets
a `salescreditnote` voucher; the original booked as a Lexoffice invoice (path 2) a Lexoffice credit note linked by
`precedingSalesVoucherId`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal

from intplat_common.events import RefundSucceeded

from .planning import ManualBooking, TaxGroup, booking_date, euros, group_taxes, json_euros, rate_number, rate_text

RefundSource = Literal["credit_note", "refund"]


@dataclass(frozen=True)
class RefundPlan:
    """Everything the booker needs about one refund or Stripe credit note; the payload of its effect rows."""

    document_key: str  # the credit note id (cn_...) or the refund id (re_...)
    source: RefundSource
    number: str  # the credit voucher's voucherNumber: Stripe's credit note number, else the refund id
    stripe_event_id: str
    customer_id: str | None
    voucher_date: str  # yyyy-MM-dd, Berlin
    created_at: str  # ISO timestamp: when Stripe made it (a credit note's voucherDate)
    currency: str
    amount: int  # gross, cents
    groups: tuple[TaxGroup, ...] | None  # Stripe's amounts per rate (credit notes); None for a plain refund
    invoice_id: str | None  # the corrected Stripe invoice (credit notes)
    payment_intent_id: str | None  # the refunded payment (plain refunds): names the original invoice or checkout
    pdf_url: str | None
    refund_ids: tuple[str, ...]  # the refunds a credit note made: booked through it, never on their own

    def payload(self) -> dict[str, Any]:
        groups = None if self.groups is None else [{"rate": g.rate, "net": g.net, "tax": g.tax} for g in self.groups]
        return {**self.__dict__, "groups": groups, "refund_ids": list(self.refund_ids)}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> RefundPlan:
        groups = payload["groups"]
        if groups is not None:
            groups = tuple(TaxGroup(str(g["rate"]), int(g["net"]), int(g["tax"])) for g in groups)
        return cls(**{**payload, "groups": groups, "refund_ids": tuple(payload["refund_ids"])})

    @property
    def original_key(self) -> str | None:
        """The original's document key when the refund names it (credit notes name their invoice)."""
        return self.invoice_id


def document_key(event: RefundSucceeded) -> str:
    key = event.credit_note_id if event.source == "credit_note" else event.refund_id
    assert key is not None  # the event's validator requires it per source
    return key


def plan_refund(event: RefundSucceeded) -> RefundPlan | ManualBooking:
    """The refund to book, or why a human must book it (Lexoffice books only EUR; Stripe's taxes must add up)."""
    if event.currency.lower() != "eur":
        return ManualBooking(f"currency {event.currency.upper()}: Lexoffice books only EUR")
    groups: tuple[TaxGroup, ...] | None = None
    if event.source == "credit_note":
        taxes = event.taxes or ()
        found = group_taxes(taxes, total=event.amount, total_tax=sum(t.amount for t in taxes))
        if isinstance(found, ManualBooking):
            return found
        groups = tuple(found)
    key = document_key(event)
    return RefundPlan(
        document_key=key,
        source=event.source,
        number=event.credit_note_number or key,
        stripe_event_id=event.stripe_event_id,
        customer_id=event.customer_id,
        voucher_date=booking_date(event.created_at),
        created_at=event.created_at.isoformat(),
        currency="EUR",
        amount=event.amount,
        groups=groups,
        invoice_id=event.invoice_id,
        payment_intent_id=event.payment_intent_id,
        pdf_url=event.credit_note_pdf_url,
        refund_ids=event.credit_note_refund_ids,
    )


def split_refund(amount: int, original: Sequence[TaxGroup]) -> tuple[TaxGroup, ...] | ManualBooking:
    """A plain refund's amounts per tax rate, derived from its original's groups, or why it cannot be derived."""
    total = sum(g.gross for g in original)
    if amount <= 0 or amount > total:
        return ManualBooking(f"the refund of {euros(amount)} EUR does not fit its original of {euros(total)} EUR")
    if amount == total:
        return tuple(original)
    if len(original) == 1:
        rate = Decimal(original[0].rate)
        tax = int((Decimal(amount) * rate / (100 + rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return (TaxGroup(original[0].rate, amount - tax, tax),)
    shares = [(Fraction(amount * g.gross, total), Fraction(amount * g.tax, total)) for g in original]
    if any(gross.denominator != 1 or tax.denominator != 1 for gross, tax in shares):
        rates = ", ".join(f"{g.rate} %" for g in original)
        return ManualBooking(
            f"a partial refund of {euros(amount)} EUR of an original taxed at {rates} cannot be split per rate"
            " exactly (Stripe gives no breakdown for a refund)"
        )
    return tuple(
        TaxGroup(g.rate, int(gross) - int(tax), int(tax)) for g, (gross, tax) in zip(original, shares, strict=True)
    )


@dataclass(frozen=True)
class OriginalVoucher:
    """The salesinvoice voucher a credit voucher corrects."""

    key: str  # its Stripe invoice id
    voucher_id: str
    voucher_number: str
    contact_id: str


def credit_voucher_body(
    plan: RefundPlan, groups: Sequence[TaxGroup], original: OriginalVoucher, *, category_id: str
) -> dict[str, Any]:
    """A `salescreditnote` voucher in gross mode, for the original's contact. A voucher has no field that links
    another voucher (reference §3 Bookkeeping vouchers): the remark names the original, our ledger links it."""
    gross = sum(g.gross for g in groups)
    return {
        "type": "salescreditnote",
        "voucherStatus": "open",
        "voucherNumber": plan.number,
        "voucherDate": plan.voucher_date,
        "totalGrossAmount": json_euros(gross),
        "totalTaxAmount": json_euros(sum(g.tax for g in groups)),
        "taxType": "gross",
        "contactId": original.contact_id,
        "remark": (
            f"Gutschrift zu Rechnung {original.voucher_number} (Lexoffice-Beleg {original.voucher_id});"
            f" Stripe {plan.source.replace('_', ' ')} {plan.document_key}"
        ),
        "voucherItems": [
            {
                "amount": json_euros(g.gross),
                "taxAmount": json_euros(g.tax),
                "taxRatePercent": rate_number(g.rate),
                "categoryId": category_id,
            }
            for g in groups
        ],
    }


def invoice_groups(invoice: Mapping[str, Any]) -> tuple[TaxGroup, ...]:
    """A Lexoffice invoice's amounts per tax rate, from its server-computed `taxAmounts` (2 decimals)."""
    return tuple(
        TaxGroup(rate_text(Decimal(str(t["taxRatePercentage"]))), _cents(t["netAmount"]), _cents(t["taxAmount"]))
        for t in invoice.get("taxAmounts") or []
    )


def credit_note_body(plan: RefundPlan, groups: Sequence[TaxGroup], invoice: Mapping[str, Any]) -> dict[str, Any]:
    """A Lexoffice credit note for the invoice `invoice` (as read): its address and tax type, one custom item per
    tax rate. Its PDF does not show the invoice number, so the introduction names it (reference §3 Credit notes)."""
    tax_type = (invoice.get("taxConditions") or {}).get("taxType", "gross")
    amount_field = "grossAmount" if tax_type == "gross" else "netAmount"
    address = invoice.get("address") or {}
    return {
        "voucherDate": _timestamp(plan.created_at),
        "address": {"contactId": address["contactId"]} if address.get("contactId") else dict(address),
        "lineItems": [
            {
                "type": "custom",
                "name": f"Erstattung {g.rate} %",
                "quantity": 1,
                "unitName": "Stück",
                "unitPrice": {
                    "currency": "EUR",
                    amount_field: json_euros(g.gross if tax_type == "gross" else g.net),
                    "taxRatePercentage": rate_number(g.rate),
                },
            }
            for g in groups
        ],
        "totalPrice": {"currency": "EUR"},
        "taxConditions": {"taxType": tax_type},
        "title": "Gutschrift",
        "introduction": f"Gutschrift zu Rechnung {invoice.get('voucherNumber')} (Stripe {plan.document_key})",
    }


def _cents(amount: Any) -> int:
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _timestamp(iso: str) -> str:
    """Lexoffice's strict `yyyy-MM-ddTHH:mm:ss.SSSXXX` (milliseconds, offset with a colon)."""
    return datetime.fromisoformat(iso).isoformat(timespec="milliseconds")
