"""Booking path 2 end to end: `billing.checkout.completed.v1` on real Kafka → the bridge (PostgreSQL) → the Lexoffice
sandbox: one finalized Lexoffice invoice per paid checkout, its PDF stored here and served to the notifier, one
synced event, whatever is redelivered or fails."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import CommitThenStatusFault, StatusFault

from intplat_common.events import Address, CheckoutCompleted, CheckoutLineItem, CustomerDetails
from lexoffice_bridge import document_files

from .conftest import API_KEY, T0, Platform
from .test_booking import resource

INTERNAL_KEY = "test-internal-key"
INVOICES = "/v1/invoices"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("settings_extra", [{"INTERNAL_API_KEYS": INTERNAL_KEY}], indirect=True),
]


def paid_checkout(
    *, customer_id: str | None = "cus_ada", email: str | None = "ada@example.com", **kw: Any
) -> CheckoutCompleted:
    """A paid EUR checkout without a Stripe invoice: 100.00 at 19 % and 2 x 5.00 at 7 %, 129.70 in all."""
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "stripe_event_id": f"evt_{suffix}",
        "stripe_api_version": "2025-03-31.basil",
        "stripe_created": T0,
        "livemode": False,
        "checkout_session_id": f"cs_test_{suffix}",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "customer_id": customer_id,
        "customer": CustomerDetails(email=email, name="Ada Lovelace", address=Address(country="DE"), locale="de"),
        "currency": "eur",
        "amount_subtotal": 11000,
        "amount_tax": 1970,
        "amount_total": 12970,
        "line_items": (
            CheckoutLineItem(
                description="Jahresabo",
                quantity=1,
                currency="eur",
                amount_subtotal=10000,
                amount_tax=1900,
                amount_total=11900,
            ),
            CheckoutLineItem(
                description="E-Book",
                quantity=2,
                currency="eur",
                amount_subtotal=1000,
                amount_tax=70,
                amount_total=1070,
            ),
        ),
    }
    values.update(kw)
    return CheckoutCompleted(**values)


async def invoices_of(platform: Platform, session_id: str) -> list[dict[str, Any]]:
    """The sandbox's invoices whose remark names the checkout (read on its control route, not by the bridge)."""
    found = [await resource(platform, r.id) for r in platform.sandbox.store.of_kind("invoice")]
    return [invoice for invoice in found if session_id in str(invoice.get("remark"))]


def invoice_create_times_out_once(platform: Platform, *, committed: bool) -> None:
    """The next invoice create is answered with the gateway's 504, after Lexoffice created the invoice or before."""
    body = {"message": "Endpoint request timed out"}
    fault: CommitThenStatusFault | StatusFault = (
        CommitThenStatusFault(method="POST", path_prefix=INVOICES, times=1, body=body)
        if committed
        else StatusFault(method="POST", path_prefix=INVOICES, status=504, times=1, body=body)
    )
    platform.sandbox.app.faults.add(fault)


async def test_a_paid_checkout_becomes_one_finalized_invoice_whose_pdf_is_stored_and_served(
    platform: Platform,
) -> None:
    event = paid_checkout()
    await platform.publish(event)

    rows = await platform.attached(event.checkout_session_id)
    assert [r["kind"] for r in rows] == ["queued", "booked", "file_attached"]
    assert {(r["source"], r["document_type"]) for r in rows} == {("stripe_checkout", "invoice")}
    invoice_id = rows[1]["lexoffice_id"]
    (invoice,) = await invoices_of(platform, event.checkout_session_id)
    assert invoice["id"] == invoice_id
    assert invoice["voucherStatus"] == "open" and invoice["voucherNumber"], "finalized and numbered by Lexoffice"
    assert invoice["totalPrice"]["totalGrossAmount"] == 129.7 and invoice["totalPrice"]["totalTaxAmount"] == 19.7
    assert invoice["taxConditions"] == {"taxType": "gross"}
    assert sorted((i["name"], i["quantity"], i["unitPrice"]["taxRatePercentage"]) for i in invoice["lineItems"]) == [
        ("E-Book", 2, 7),
        ("Jahresabo", 1, 19),
    ]
    (contact,) = platform.sandbox.store.of_kind("contact")
    assert invoice["address"]["contactId"] == contact.id

    # The calls per booked document (a new customer): contact search and create, the invoice, its PDF.
    calls = Counter((method, path) for method, path, _ in platform.requests())
    assert calls == {
        ("GET", "/v1/contacts"): 1,
        ("POST", "/v1/contacts"): 1,
        ("POST", INVOICES): 1,
        ("GET", f"{INVOICES}/{invoice_id}/file"): 1,
    }

    stored = await document_files.find(platform.pool, invoice_id)
    assert stored is not None and stored.content.startswith(b"%PDF")
    async with httpx.AsyncClient(base_url=platform.sandbox_url) as http:
        original = await http.get(
            f"{INVOICES}/{invoice_id}/file", headers={"Authorization": f"Bearer {API_KEY}", "Accept": "*/*"}
        )
    assert stored.content == original.content, "the PDF Lexoffice made, byte for byte"

    (synced,) = await platform.synced(event.checkout_session_id)
    assert (synced["source_type"], synced["document_type"], synced["lexoffice_document_id"]) == (
        "stripe_checkout_session",
        "invoice",
        invoice_id,
    )
    assert (synced["total_gross_amount"], synced["total_tax_amount"], synced["total_net_amount"]) == (
        12970,
        1970,
        11000,
    )
    assert (synced["customer_email"], synced["customer_locale"]) == ("ada@example.com", "de")
    assert synced["document_file_url"] == f"{platform.url}/v1/documents/{invoice_id}/file"

    async with httpx.AsyncClient() as http:
        served = await http.get(synced["document_file_url"], headers={"X-Internal-Api-Key": INTERNAL_KEY})
        refused = await http.get(synced["document_file_url"], headers={"X-Internal-Api-Key": "wrong"})
        unknown = await http.get(
            f"{platform.url}/v1/documents/{uuid.uuid4()}/file", headers={"X-Internal-Api-Key": INTERNAL_KEY}
        )
    assert served.status_code == 200 and served.content == stored.content
    assert served.headers["content-type"] == "application/pdf"
    assert (refused.status_code, unknown.status_code) == (401, 404)


async def test_redelivery_and_another_event_for_the_same_checkout_make_one_invoice(platform: Platform) -> None:
    event = paid_checkout()
    await platform.publish(event, times=2)
    await platform.attached(event.checkout_session_id)
    await platform.publish(event.model_copy(update={"stripe_event_id": "evt_again"}), event_id="evt_again")
    second = paid_checkout()  # the same customer: its contact comes from our mapping
    await platform.publish(second)
    await platform.attached(second.checkout_session_id)

    assert len(await invoices_of(platform, event.checkout_session_id)) == 1
    assert await platform.ledger_kinds(event.checkout_session_id) == ["queued", "booked", "file_attached"]
    assert len(await platform.synced(event.checkout_session_id)) == 1
    assert len(platform.sandbox.store.of_kind("contact")) == 1
    assert [s for m, p, s in platform.requests() if (m, p) == ("POST", INVOICES)] == [201, 201]


async def test_a_504_after_the_invoice_was_committed_creates_it_once(platform: Platform) -> None:
    invoice_create_times_out_once(platform, committed=True)
    event = paid_checkout()
    await platform.publish(event)

    rows = await platform.attached(event.checkout_session_id)
    assert [r["kind"] for r in rows] == ["queued", "booked", "file_attached"]
    assert rows[1]["details"]["found_after_ambiguous_create"] is True
    (invoice,) = await invoices_of(platform, event.checkout_session_id)
    assert invoice["id"] == rows[1]["lexoffice_id"]
    requests = platform.requests()
    assert [s for m, p, s in requests if (m, p) == ("POST", INVOICES)] == [504], "not created a second time"
    assert ("GET", "/v1/voucherlist", 200) in requests, "looked up among the day's invoices"
    assert ("GET", f"{INVOICES}/{invoice['id']}", 200) in requests, "identified by the marker in its remark"
    assert len(await platform.synced(event.checkout_session_id)) == 1


async def test_after_a_504_the_marker_tells_the_invoice_from_an_equal_one(platform: Platform) -> None:
    earlier = paid_checkout()
    await platform.publish(earlier)
    await platform.attached(earlier.checkout_session_id)
    invoice_create_times_out_once(platform, committed=True)
    later = paid_checkout()  # the same day, contact and total: only the marker tells the two apart
    await platform.publish(later)
    rows = await platform.attached(later.checkout_session_id)

    assert rows[1]["details"]["found_after_ambiguous_create"] is True
    (first,) = await invoices_of(platform, earlier.checkout_session_id)
    (second,) = await invoices_of(platform, later.checkout_session_id)
    assert rows[1]["lexoffice_id"] == second["id"] != first["id"]
    assert [s for m, p, s in platform.requests() if (m, p) == ("POST", INVOICES)] == [201, 504]


async def test_a_504_before_anything_was_committed_creates_the_invoice_after_the_look_up(platform: Platform) -> None:
    invoice_create_times_out_once(platform, committed=False)
    event = paid_checkout()
    await platform.publish(event)
    rows = await platform.attached(event.checkout_session_id)

    assert rows[1]["details"]["found_after_ambiguous_create"] is False
    assert len(await invoices_of(platform, event.checkout_session_id)) == 1
    requests = platform.requests()
    assert [s for m, p, s in requests if (m, p) == ("POST", INVOICES)] == [504, 201]
    calls = [(m, p, s) for m, p, s in requests]
    assert calls.index(("GET", "/v1/voucherlist", 200)) < calls.index(("POST", INVOICES, 201)), "looked up first"


async def test_the_look_up_reads_no_invoice_booked_for_another_checkout(platform: Platform) -> None:
    earlier = [paid_checkout() for _ in range(3)]  # the same day, contact and total: each one a candidate
    for checkout in earlier:
        await platform.publish(checkout)
        await platform.attached(checkout.checkout_session_id)
    booked = {(await invoices_of(platform, c.checkout_session_id))[0]["id"] for c in earlier}
    invoice_create_times_out_once(platform, committed=False)
    event = paid_checkout()
    await platform.publish(event)
    rows = await platform.attached(event.checkout_session_id)

    assert rows[1]["details"]["found_after_ambiguous_create"] is False
    requests = platform.requests()
    assert [s for m, p, s in requests if (m, p) == ("POST", INVOICES)] == [201, 201, 201, 504, 201]
    assert ("GET", "/v1/voucherlist", 200) in requests, "looked up among the day's invoices"
    read = {p for m, p, _ in requests if m == "GET"}
    assert not read & {f"{INVOICES}/{invoice_id}" for invoice_id in booked}, "known to be other checkouts' invoices"


async def test_a_504_after_commit_that_cannot_be_looked_up_is_left_to_a_human(platform: Platform) -> None:
    invoice_create_times_out_once(platform, committed=True)
    refused = {"message": "Maximum search window size exceeded"}
    platform.sandbox.app.faults.add(StatusFault(method="GET", path_prefix="/v1/voucherlist", status=400, body=refused))
    event = paid_checkout()
    await platform.publish(event)

    async def decided() -> list[str] | None:
        kinds = await platform.ledger_kinds(event.checkout_session_id)
        return kinds if "needs_manual_booking" in kinds else None

    assert await eventually(decided, timeout=60, what="manual decision") == ["queued", "needs_manual_booking"]
    effects = await platform.effects()
    assert effects[f"invoice:{event.checkout_session_id}"] == "manual"
    assert len(await invoices_of(platform, event.checkout_session_id)) == 1, "the one Lexoffice committed"
    assert [s for m, p, s in platform.requests() if (m, p) == ("POST", INVOICES)] == [504], "never created blindly"


async def test_a_guest_checkout_is_invoiced_to_a_one_time_address(platform: Platform) -> None:
    event = paid_checkout(customer_id=None, email="guest@example.com")
    await platform.publish(event)
    rows = await platform.attached(event.checkout_session_id)

    (invoice,) = await invoices_of(platform, event.checkout_session_id)
    assert invoice["id"] == rows[1]["lexoffice_id"]
    assert (invoice["address"]["name"], invoice["address"]["countryCode"]) == ("Ada Lovelace", "DE")
    assert "contactId" not in invoice["address"]
    assert not [p for _, p, _ in platform.requests() if p.startswith("/v1/contacts")]
    (synced,) = await platform.synced(event.checkout_session_id)
    assert (synced["stripe_customer_id"], synced["customer_email"]) == (None, "guest@example.com")


async def test_checkouts_another_path_books_or_a_human_must_book(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lexoffice_bridge")
    with_invoice = paid_checkout(invoice_id="in_from_checkout")
    subscription = paid_checkout(mode="subscription", subscription_id="sub_1")
    unpaid = paid_checkout(payment_status="unpaid")
    in_usd = paid_checkout(currency="usd")
    odd_tax = paid_checkout(amount_tax=1971)
    for event in (with_invoice, subscription, unpaid, in_usd, odd_tax):
        await platform.publish(event)  # one customer, one partition: handled in this order

    async def recorded() -> list[str] | None:
        kinds = await platform.ledger_kinds(odd_tax.checkout_session_id)
        return kinds or None

    assert await eventually(recorded, timeout=30, what="manual-booking row") == ["needs_manual_booking"]
    (usd,) = await platform.ledger(in_usd.checkout_session_id)
    assert (usd["kind"], usd["reason"]) == ("needs_manual_booking", "currency USD: Lexoffice books only EUR")
    (odd,) = await platform.ledger(odd_tax.checkout_session_id)
    assert odd["reason"] == "the invoice's taxes add up to 1970, not its total_tax 1971"
    for skipped in (with_invoice, subscription, unpaid):
        assert await platform.ledger(skipped.checkout_session_id) == []
    assert any("booked from its invoice.paid" in str(getattr(r, "fields", "")) for r in caplog.records)
    await asyncio.sleep(1)
    assert await platform.effects() == {}
    assert platform.requests() == []
