"""What a refund becomes: its amounts per tax rate (exact, or a reason for a human) and the credit document bodies."""

from __future__ import annotations

from datetime import UTC, datetime

from intplat_common.events import InvoiceTax, RefundSucceeded
from lexoffice_bridge.ledger import DocumentType
from lexoffice_bridge.planning import ManualBooking, TaxGroup
from lexoffice_bridge.refunds import (
    OriginalVoucher,
    RefundPlan,
    credit_note_body,
    credit_voucher_body,
    invoice_groups,
    plan_refund,
    split_refund,
)
from lexoffice_bridge.status import BookedDocument

ORIGINAL = (TaxGroup("19", 10000, 1900), TaxGroup("7", 1000, 70))  # 129.70 in all
WHEN = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)


def event(**values: object) -> RefundSucceeded:
    fields: dict[str, object] = {
        "stripe_event_id": "evt_1",
        "stripe_api_version": "2025-03-31.basil",
        "stripe_created": WHEN,
        "livemode": False,
        "source": "credit_note",
        "credit_note_id": "cn_1",
        "credit_note_number": "INV-1-CN-01",
        "invoice_id": "in_1",
        "currency": "eur",
        "amount": 5950,
        "created_at": WHEN,
        "taxes": (InvoiceTax(amount=950, taxable_amount=5000, percentage="19"),),
        "credit_note_refund_ids": ("re_1",),
    }
    fields.update(values)
    return RefundSucceeded.model_validate(fields)


def test_a_credit_note_carries_stripes_amounts_per_rate() -> None:
    plan = plan_refund(event())
    assert isinstance(plan, RefundPlan)
    assert (plan.document_key, plan.number, plan.voucher_date) == ("cn_1", "INV-1-CN-01", "2026-04-01")
    assert plan.groups == (TaxGroup("19", 5000, 950),)
    assert (plan.original_key, plan.refund_ids) == ("in_1", ("re_1",))
    assert RefundPlan.from_payload(plan.payload()) == plan


def test_a_plain_refund_is_keyed_by_its_id_and_has_no_breakdown() -> None:
    plan = plan_refund(
        event(source="refund", refund_id="re_9", payment_intent_id="pi_9", credit_note_id=None, credit_note_number=None,
              invoice_id=None, taxes=None, credit_note_refund_ids=())
    )  # fmt: skip
    assert isinstance(plan, RefundPlan)
    assert (plan.document_key, plan.number, plan.groups, plan.payment_intent_id) == ("re_9", "re_9", None, "pi_9")


def test_what_cannot_be_booked_automatically_says_why() -> None:
    assert plan_refund(event(currency="gbp")) == ManualBooking("currency GBP: Lexoffice books only EUR")
    too_much_tax = plan_refund(event(amount=100))
    assert isinstance(too_much_tax, ManualBooking) and "exceed" in too_much_tax.reason


def test_a_whole_refund_mirrors_its_original() -> None:
    assert split_refund(12970, ORIGINAL) == ORIGINAL


def test_a_part_of_a_single_rate_original_is_that_rates_share() -> None:
    assert split_refund(5000, (TaxGroup("19", 10000, 1900),)) == (TaxGroup("19", 4202, 798),)
    assert split_refund(1070, (TaxGroup("7", 1000, 70),)) == (TaxGroup("7", 1000, 70),)


def test_a_part_of_a_multi_rate_original_is_split_only_when_exact() -> None:
    even = (TaxGroup("19", 10000, 1900), TaxGroup("7", 10000, 700))  # 226.00
    assert split_refund(11300, even) == (TaxGroup("19", 5000, 950), TaxGroup("7", 5000, 350))
    inexact = split_refund(5000, ORIGINAL)
    assert isinstance(inexact, ManualBooking)
    assert "cannot be split per rate exactly" in inexact.reason and "19 %, 7 %" in inexact.reason


def test_a_refund_larger_than_its_original_needs_a_human() -> None:
    assert isinstance(split_refund(13000, ORIGINAL), ManualBooking)
    assert isinstance(split_refund(0, ORIGINAL), ManualBooking)


def test_the_credit_voucher_refers_to_its_original() -> None:
    plan = plan_refund(event())
    assert isinstance(plan, RefundPlan)
    original = OriginalVoucher("in_1", "voucher-1", "INV-1", "contact-1")
    body = credit_voucher_body(plan, plan.groups or (), original, category_id="cat")
    assert (body["type"], body["voucherNumber"], body["contactId"], body["taxType"]) == (
        "salescreditnote",
        "INV-1-CN-01",
        "contact-1",
        "gross",
    )
    assert "INV-1" in body["remark"] and "voucher-1" in body["remark"] and "cn_1" in body["remark"]
    assert body["totalGrossAmount"] == sum(i["amount"] for i in body["voucherItems"]) == 59.5
    assert body["voucherItems"] == [{"amount": 59.5, "taxAmount": 9.5, "taxRatePercent": 19, "categoryId": "cat"}]


def test_the_credit_note_copies_its_invoices_contact_and_tax_type() -> None:
    invoice = {
        "voucherNumber": "RE1001",
        "address": {"contactId": "contact-1", "name": "Ada"},
        "taxConditions": {"taxType": "net"},
        "taxAmounts": [{"taxRatePercentage": 19, "taxAmount": 19.0, "netAmount": 100.0}],
    }
    assert invoice_groups(invoice) == (TaxGroup("19", 10000, 1900),)
    plan = plan_refund(event())
    assert isinstance(plan, RefundPlan)
    body = credit_note_body(plan, (TaxGroup("19", 5000, 950),), invoice)
    assert body["address"] == {"contactId": "contact-1"}
    assert body["taxConditions"] == {"taxType": "net"}
    assert body["voucherDate"] == "2026-03-31T22:30:00.000+00:00"
    assert body["lineItems"][0]["unitPrice"] == {"currency": "EUR", "netAmount": 50.0, "taxRatePercentage": 19}
    assert "RE1001" in body["introduction"], "its PDF does not show the invoice number"


def test_a_refunds_credit_voucher_is_read_as_a_voucher_its_credit_note_as_a_credit_note() -> None:
    def booked(document_type: DocumentType, lexoffice_type: str | None = None) -> BookedDocument:
        return BookedDocument("re_1", "stripe_refund", document_type, "id-1", None, None, "EUR", lexoffice_type)

    assert booked("credit_note", "salescreditnote").resource == "voucher", "GET /v1/vouchers, not /v1/credit-notes"
    assert booked("credit_note", "credit-note").resource == "credit_note"
    assert (booked("invoice").resource, booked("voucher").resource) == ("invoice", "voucher")
