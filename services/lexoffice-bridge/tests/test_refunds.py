"""Refunds end to end: `billing.refund.succeeded.v1` on real Kafka → the bridge (PostgreSQL) → the Lexoffice sandbox:
a credit document referring to the original (a salescreditnote voucher for a Stripe invoice, a credit note linked
to a Lexoffice invoice), waiting for an original not booked yet, manual (alerted) when Lexoffice cannot book it."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import CommitThenStatusFault

from intplat_common.events import Address, CustomerDetails, InvoiceTax, RefundSucceeded
from lexoffice_bridge import ledger
from lexoffice_bridge.ledger import LedgerEntry

from .conftest import T0, OpsChat, Platform, paid_invoice
from .test_checkout_booking import paid_checkout

pytestmark = pytest.mark.integration


def refund(source: str = "credit_note", **values: Any) -> RefundSucceeded:
    suffix = uuid.uuid4().hex[:8]
    fields: dict[str, Any] = {
        "stripe_event_id": f"evt_r{suffix}",
        "stripe_api_version": "2025-03-31.basil",
        "stripe_created": T0,
        "livemode": False,
        "source": source,
        "customer_id": "cus_ada",
        "currency": "eur",
        "created_at": T0,
    }
    if source == "credit_note":
        fields.update(
            credit_note_id=f"cn_{suffix}",
            credit_note_pdf_url=f"https://pay.stripe.com/credit_notes/acct_1Demo/test_cn_{suffix}/pdf",
        )
    else:
        fields["refund_id"] = f"re_{suffix}"
    fields.update(values)
    return RefundSucceeded(**fields)


def full_credit_note(invoice_id: str, number: str, **values: Any) -> RefundSucceeded:
    """Stripe's credit note of the whole of `paid_invoice`: 100.00 at 19 % and 10.00 at 7 %."""
    taxes = (
        InvoiceTax(amount=1900, taxable_amount=10000, percentage="19", tax_behavior="exclusive"),
        InvoiceTax(amount=70, taxable_amount=1000, percentage="7", tax_behavior="exclusive"),
    )
    return refund(invoice_id=invoice_id, credit_note_number=f"{number}-CN-01", amount=12970, taxes=taxes, **values)


async def resource(platform: Platform, resource_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=platform.sandbox_url) as http:
        answer: dict[str, Any] = (await http.get(f"/_sandbox/lexoffice/resources/{resource_id}")).json()
        return answer


async def ledger_until(platform: Platform, key: str, kind: str, *, timeout: float = 60.0) -> list[Any]:
    async def reached() -> list[Any] | None:
        rows = await platform.ledger(key)
        return rows if kind in [r["kind"] for r in rows] else None

    try:
        result: list[Any] = await eventually(reached, timeout=timeout, what=f"{key} {kind}")
    except AssertionError as exc:
        effects = await platform.pool.fetch("SELECT effect_key, status, attempts, error FROM lexoffice_effects")
        raise AssertionError(f"{exc}; effects: {[dict(e) for e in effects]}") from None
    return result


async def test_a_credit_note_becomes_a_credit_voucher_linked_to_its_invoice(platform: Platform) -> None:
    invoice = paid_invoice()
    await platform.publish(invoice)
    original = (await platform.attached(invoice.invoice_id))[1]
    credit = full_credit_note(invoice.invoice_id, invoice.invoice_number or "", credit_note_refund_ids=("re_full",))
    await platform.publish(credit)

    rows = await ledger_until(platform, credit.credit_note_id or "", "file_attached")
    assert [(r["kind"], r["source"], r["document_type"]) for r in rows] == [
        ("queued", "stripe_refund", "credit_note"),
        ("booked", "stripe_refund", "credit_note"),
        ("file_attached", "stripe_refund", "credit_note"),
    ]
    booked = rows[1]
    assert booked["details"]["original_key"] == invoice.invoice_id
    assert booked["details"]["original_lexoffice_id"] == original["lexoffice_id"]
    voucher = await resource(platform, booked["lexoffice_id"])
    assert (voucher["type"], voucher["voucherNumber"]) == ("salescreditnote", credit.credit_note_number)
    assert voucher["contactId"] == original["details"]["contact_id"], "the original's contact"
    assert invoice.invoice_number in voucher["remark"] and original["lexoffice_id"] in voucher["remark"]
    assert sorted((i["taxRatePercent"], i["amount"], i["taxAmount"]) for i in voucher["voucherItems"]) == [
        (7, 10.7, 0.7),
        (19, 119.0, 19.0),
    ]
    assert voucher["files"] == [rows[2]["details"]["file_id"]]

    (synced,) = await platform.synced(credit.credit_note_id or "")
    assert (synced["source_type"], synced["document_type"], synced["pdf_attached"]) == (
        "stripe_refund",
        "credit_note",
        True,
    )
    assert (synced["lexoffice_document_id"], synced["stripe_invoice_number"]) == (
        booked["lexoffice_id"],
        invoice.invoice_number,
    )
    assert (synced["total_gross_amount"], synced["total_tax_amount"]) == (12970, 1970)

    # The refund the credit note made arrives on its own too: booked through the credit note, never twice.
    await platform.publish(refund("refund", refund_id="re_full", amount=12970, payment_intent_id="pi_full"))
    later = paid_invoice()  # the same customer: the same partition, consumed after the refund
    await platform.publish(later)
    await platform.attached(later.invoice_id)
    assert await platform.ledger("re_full") == []
    credit_vouchers = [d for d in platform.sandbox.store.of_kind("voucher") if d.fields["type"] == "salescreditnote"]
    assert len(credit_vouchers) == 1


async def test_a_credit_note_before_its_invoice_waits_and_books_a_partial_credit(platform: Platform) -> None:
    invoice = paid_invoice()
    partial = refund(
        invoice_id=invoice.invoice_id,
        credit_note_number=f"{invoice.invoice_number}-CN-01",
        amount=5950,
        taxes=(InvoiceTax(amount=950, taxable_amount=5000, percentage="19"),),
    )
    await platform.publish(partial)
    key = f"credit:{partial.credit_note_id}"

    async def waiting() -> dict[str, Any] | None:
        row = await platform.pool.fetchrow(
            "SELECT status, attempts, error FROM lexoffice_effects WHERE effect_key = $1", key
        )
        return dict(row) if row is not None and row["status"] == "waiting" else None

    parked = await eventually(waiting, timeout=30, what="credit waiting for its original")
    assert parked["attempts"] == 0 and parked["error"] == f"waiting for the original {invoice.invoice_id} to be booked"
    assert [m for m, p, _ in platform.requests() if p.startswith("/v1/vouchers")] == []

    await platform.publish(invoice)
    rows = await ledger_until(platform, partial.credit_note_id or "", "file_attached")
    voucher = await resource(platform, rows[1]["lexoffice_id"])
    assert [(i["taxRatePercent"], i["amount"], i["taxAmount"]) for i in voucher["voucherItems"]] == [(19, 59.5, 9.5)]
    assert (voucher["totalGrossAmount"], voucher["type"]) == (59.5, "salescreditnote")


async def book_checkout_invoice(platform: Platform, checkout_id: str, payment_intent_id: str) -> str:
    """What booking path 2 leaves behind: a finalized Lexoffice invoice (119.00 gross at 19 %) and its `booked`
    ledger row (document_type invoice, source stripe_checkout), written directly."""
    client = platform.app.state.lexoffice
    contact = await client.create_contact(
        {"version": 0, "roles": {"customer": {}}, "person": {"lastName": "Grace Hopper"}}
    )
    created = await client.create_invoice(
        {
            "voucherDate": "2026-03-01T12:00:00.000+01:00",
            "address": {"contactId": contact.id},
            "lineItems": [
                {
                    "type": "custom",
                    "name": "Kurs",
                    "quantity": 1,
                    "unitName": "Stück",
                    "unitPrice": {"currency": "EUR", "grossAmount": 119.0, "taxRatePercentage": 19},
                }
            ],
            "totalPrice": {"currency": "EUR"},
            "taxConditions": {"taxType": "gross"},
            "shippingConditions": {"shippingType": "none"},
        }
    )
    await ledger.record(
        platform.pool,
        LedgerEntry(
            document_key=checkout_id,
            source="stripe_checkout",
            kind="booked",
            document_type="invoice",
            lexoffice_id=created.id,
            details={"payment_intent_id": payment_intent_id, "contact_id": contact.id},
        ),
    )
    return created.id


async def test_a_partial_refund_of_a_checkout_becomes_a_credit_note_linked_to_its_invoice(
    platform: Platform, ops_chat: OpsChat
) -> None:
    invoice_id = await book_checkout_invoice(platform, "cs_test_course", "pi_course")
    partial = refund("refund", payment_intent_id="pi_course", amount=5000, customer_id="cus_grace")
    await platform.publish(partial)

    rows = await ledger_until(platform, partial.refund_id or "", "booked")
    assert [r["kind"] for r in rows] == ["queued", "booked"]
    booked = rows[1]
    assert (booked["document_type"], booked["details"]["original_key"]) == ("credit_note", "cs_test_course")
    assert booked["details"]["lexoffice_type"] == "credit-note"
    credit_note = await resource(platform, booked["lexoffice_id"])
    assert credit_note["voucherStatus"] == "paidoff", "finalized and linked: it pays the invoice off by its amount"
    assert credit_note["totalPrice"]["totalGrossAmount"] == 50.0
    assert [(i["unitPrice"]["grossAmount"], i["unitPrice"]["taxRatePercentage"]) for i in credit_note["lineItems"]] == [
        (50.0, 19)
    ]
    related = (await resource(platform, invoice_id))["relatedVouchers"]
    assert [(r["id"], r["voucherType"]) for r in related] == [(booked["lexoffice_id"], "creditnote")]
    creates = [p for m, p, _ in platform.requests() if m == "POST" and p == "/v1/credit-notes"]
    assert creates == ["/v1/credit-notes"]
    (synced,) = await platform.synced(partial.refund_id or "")
    assert (synced["document_type"], synced["voucher_status"], synced["total_gross_amount"]) == (
        "credit_note",
        "paidoff",
        5000,
    )

    # Lexoffice takes one credit note per invoice: a second refund of the same checkout is left to a human.
    second = refund("refund", payment_intent_id="pi_course", amount=1000, customer_id="cus_grace")
    await platform.publish(second)
    manual = await ledger_until(platform, second.refund_id or "", "needs_manual_booking")
    assert "one credit note per invoice" in manual[-1]["reason"]

    async def alerted() -> list[str] | None:
        return [t for t in ops_chat.texts if str(second.refund_id) in t] or None

    assert "needs manual booking" in (await eventually(alerted, timeout=20, what="alert"))[0]


async def test_a_refund_before_its_checkout_waits_for_path_2_and_credits_the_invoice_it_books(
    platform: Platform,
) -> None:
    checkout = paid_checkout(customer_id="cus_lin", email="lin@example.com", payment_intent_id="pi_checkout")
    early = refund("refund", payment_intent_id="pi_checkout", amount=12970, customer_id="cus_lin")
    await platform.publish(early)
    key = f"credit:{early.refund_id}"

    async def waiting() -> str | None:
        row = await platform.pool.fetchrow("SELECT status, error FROM lexoffice_effects WHERE effect_key = $1", key)
        return row["error"] if row is not None and row["status"] == "waiting" else None

    reason = await eventually(waiting, timeout=30, what="refund waiting")
    assert reason == "waiting for the original pi_checkout to be booked"
    await platform.publish(checkout)

    # Woken by path 2's booked invoice (the refund's deadline is an hour away).
    rows = await ledger_until(platform, str(early.refund_id), "booked")
    original = await platform.ledger(checkout.checkout_session_id)
    invoice = next(r for r in original if r["kind"] == "booked")
    assert invoice["details"]["payment_intent_id"] == "pi_checkout" and invoice["details"]["contact_id"]
    credit = rows[-1]
    assert (credit["details"]["original_key"], credit["details"]["lexoffice_type"]) == (
        checkout.checkout_session_id,
        "credit-note",
    )
    assert credit["details"]["original_lexoffice_id"] == invoice["lexoffice_id"]
    related = (await resource(platform, invoice["lexoffice_id"]))["relatedVouchers"]
    assert [(r["id"], r["voucherType"]) for r in related] == [(credit["lexoffice_id"], "creditnote")]


async def test_a_non_eur_refund_needs_manual_booking_and_alerts(platform: Platform, ops_chat: OpsChat) -> None:
    usd = refund("refund", currency="usd", amount=2500, payment_intent_id="pi_usd")
    await platform.publish(usd)
    rows = await ledger_until(platform, usd.refund_id or "", "needs_manual_booking", timeout=30)
    assert [(r["kind"], r["reason"], r["currency"]) for r in rows] == [
        ("needs_manual_booking", "currency USD: Lexoffice books only EUR", "USD")
    ]

    async def alerted() -> list[str] | None:
        return [t for t in ops_chat.texts if str(usd.refund_id) in t] or None

    assert await eventually(alerted, timeout=20, what="alert on the ops channel") == [
        f"[lexoffice-bridge] Stripe refund {usd.refund_id} needs manual booking in Lexoffice:"
        " currency USD: Lexoffice books only EUR"
    ]
    assert await platform.effects() == {}
    assert platform.requests() == []


async def test_a_plain_refund_of_a_stripe_invoice_waits_for_the_credit_note_that_names_it(platform: Platform) -> None:
    invoice = paid_invoice(payment_intent_id="pi_ada")
    await platform.publish(invoice)
    await platform.attached(invoice.invoice_id)
    plain = refund("refund", payment_intent_id="pi_ada", amount=12970)
    await platform.publish(plain)
    key = f"credit:{plain.refund_id}"

    async def waiting() -> asyncpg.Record | None:
        row = await platform.pool.fetchrow(
            "SELECT status, error, updated_at FROM lexoffice_effects WHERE effect_key = $1", key
        )
        return row if row is not None and row["status"] == "waiting" else None

    try:
        parked = await eventually(waiting, timeout=60, what="refund waiting for its credit note")
    except AssertionError as exc:  # failed once in a full clean-clone run (never alone): say where it stood
        raise AssertionError(f"{exc}; effects: {await platform.effects()}; requests: {platform.requests()}") from None
    assert parked["error"] == f"waiting for the Stripe credit note of {invoice.invoice_id} that names this refund"
    # Another booking runs through the booker meanwhile: the parked refund is left alone until its deadline (it
    # was made due again at once, and re-attempted in a loop, while its original's being booked woke it).
    other = paid_invoice(customer_id="cus_bob", email="bob@example.com")
    await platform.publish(other)
    await platform.attached(other.invoice_id)
    still = await platform.pool.fetchrow("SELECT status, updated_at FROM lexoffice_effects WHERE effect_key = $1", key)
    assert still is not None and (still["status"], still["updated_at"]) == ("waiting", parked["updated_at"])

    credit = full_credit_note(
        invoice.invoice_id, invoice.invoice_number or "", credit_note_refund_ids=(str(plain.refund_id),)
    )
    await platform.publish(credit)
    await ledger_until(platform, credit.credit_note_id or "", "file_attached")
    assert [r["kind"] for r in await platform.ledger(str(plain.refund_id))] == ["queued", "superseded"]
    effect = await platform.pool.fetchrow(
        "SELECT status, provider_ref FROM lexoffice_effects WHERE effect_key = $1", key
    )
    assert effect is not None
    assert (effect["status"], effect["provider_ref"]) == ("done", f"credit_note:{credit.credit_note_id}")
    credit_vouchers = [d for d in platform.sandbox.store.of_kind("voucher") if d.fields["type"] == "salescreditnote"]
    assert len(credit_vouchers) == 1, "the refund is booked through its credit note only"


async def test_a_504_after_the_credit_voucher_was_committed_books_it_once(platform: Platform) -> None:
    invoice = paid_invoice()
    await platform.publish(invoice)
    await platform.attached(invoice.invoice_id)
    platform.sandbox.app.faults.add(
        CommitThenStatusFault(
            method="POST", path_prefix="/v1/vouchers", times=1, body={"message": "Endpoint request timed out"}
        )
    )
    credit = full_credit_note(invoice.invoice_id, invoice.invoice_number or "")
    await platform.publish(credit)

    rows = await ledger_until(platform, credit.credit_note_id or "", "file_attached")
    assert rows[1]["details"]["found_after_ambiguous_create"] is True
    credit_vouchers = [d for d in platform.sandbox.store.of_kind("voucher") if d.fields["type"] == "salescreditnote"]
    assert [d.id for d in credit_vouchers] == [rows[1]["lexoffice_id"]], "created once"
    assert ("GET", "/v1/voucherlist", 200) in platform.requests(), "looked up by voucherNumber"


async def test_a_refund_of_an_invoice_left_to_a_human_is_manual_too(platform: Platform, ops_chat: OpsChat) -> None:
    untaxed_to_france = paid_invoice(
        customer=CustomerDetails(email="ada@example.com", address=Address(country="FR")),
        taxes=(),
        total_tax=0,
        total=10000,
        amount_due=10000,
        amount_paid=10000,
    )
    await platform.publish(untaxed_to_france)
    credit = refund(invoice_id=untaxed_to_france.invoice_id, credit_note_number="CN-FR-1", amount=10000, taxes=())
    await platform.publish(credit)

    rows = await ledger_until(platform, credit.credit_note_id or "", "needs_manual_booking")
    assert [r["kind"] for r in rows] == ["queued", "needs_manual_booking"]
    assert rows[1]["reason"].startswith(f"its original {untaxed_to_france.invoice_id} is left to manual booking")

    async def alerted() -> list[str] | None:
        return [t for t in ops_chat.texts if str(credit.credit_note_id) in t] or None

    assert "needs manual booking" in (await eventually(alerted, timeout=20, what="alert"))[0]
    assert [p for m, p, _ in platform.requests() if m == "POST"] == []
    assert await platform.effects() == {
        f"credit:{credit.credit_note_id}": "manual",
        f"credit_file:{credit.credit_note_id}": "manual",
    }


@pytest.mark.parametrize("settings_extra", [{"LEXOFFICE_BRIDGE_ORIGINAL_WAIT_SECONDS": 1}], indirect=True)
async def test_a_refund_whose_original_never_comes_is_manual_after_its_deadline(platform: Platform) -> None:
    lost = refund("refund", payment_intent_id="pi_nobody_knows", amount=1000)
    await platform.publish(lost)
    rows = await ledger_until(platform, str(lost.refund_id), "needs_manual_booking", timeout=30)
    assert rows[-1]["reason"] == "waited 1 s in vain for the original pi_nobody_knows to be booked"
    assert await platform.effects() == {f"credit:{lost.refund_id}": "manual"}
