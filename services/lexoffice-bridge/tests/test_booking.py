"""Booking path 1 end to end: `billing.invoice.paid.v1` on real Kafka → the bridge (PostgreSQL) → the Lexoffice
sandbox: one salesinvoice voucher per Stripe invoice number, with Stripe's PDF, whatever is redelivered or fails."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from intplat_devstack.testing import eventually, read_records
from intplat_sandboxes.framework import CommitThenStatusFault
from prometheus_client.parser import text_string_to_metric_families

from intplat_common import dlq_topic

from .conftest import OpsChat, Platform, paid_invoice

pytestmark = pytest.mark.integration

VOUCHERS = "/v1/vouchers"


async def resource(platform: Platform, resource_id: str) -> dict[str, Any]:
    """A document as the sandbox holds it (read on its control route: not a request of the bridge)."""
    async with httpx.AsyncClient(base_url=platform.sandbox_url) as http:
        answer: dict[str, Any] = (await http.get(f"/_sandbox/lexoffice/resources/{resource_id}")).json()
        return answer


def one_document_per_number(platform: Platform) -> dict[str, list[dict[str, Any]]]:
    platform.sandbox.assert_one_document_per_number()
    return platform.sandbox.documents_by_number()


async def test_a_paid_invoice_becomes_one_voucher_with_its_pdf_and_contact(platform: Platform) -> None:
    event = paid_invoice()
    await platform.publish(event)

    rows = await platform.attached(event.invoice_id)
    assert [r["kind"] for r in rows] == ["queued", "booked", "file_attached"]
    voucher_id = rows[1]["lexoffice_id"]
    documents = one_document_per_number(platform)
    assert documents[event.invoice_number or ""][0]["id"] == voucher_id

    voucher = await resource(platform, voucher_id)
    assert voucher["voucherNumber"] == event.invoice_number
    assert voucher["totalGrossAmount"] == 129.7 and voucher["totalTaxAmount"] == 19.7
    assert sorted((i["taxRatePercent"], i["amount"], i["taxAmount"]) for i in voucher["voucherItems"]) == [
        (7, 10.7, 0.7),
        (19, 119.0, 19.0),
    ]
    assert voucher["files"] == [rows[2]["details"]["file_id"]]
    contacts = platform.sandbox.store.of_kind("contact")
    assert len(contacts) == 1 and voucher["contactId"] == contacts[0].id

    synced = await platform.synced(event.invoice_id)
    assert len(synced) == 1
    assert synced[0]["lexoffice_document_id"] == voucher_id
    assert synced[0]["lexoffice_contact_id"] == contacts[0].id
    assert (synced[0]["total_gross_amount"], synced[0]["total_tax_amount"], synced[0]["pdf_attached"]) == (
        12970,
        1970,
        True,
    )

    # The calls per booked document (a new customer): contact search and create, posting categories, voucher, file.
    calls = Counter((method, path.split("/")[2]) for method, path, _ in platform.requests())
    assert calls == {
        ("GET", "contacts"): 1,
        ("POST", "contacts"): 1,
        ("GET", "posting-categories"): 1,
        ("POST", "vouchers"): 2,  # the voucher and its file (POST /v1/vouchers/{id}/files)
    }


async def test_redelivery_and_a_second_event_for_the_same_number_add_nothing(platform: Platform) -> None:
    event = paid_invoice()
    await platform.publish(event, times=2)
    await platform.attached(event.invoice_id)
    again = event.model_copy(update={"stripe_event_id": "evt_other"})
    await platform.publish(again, event_id="evt_other")
    second_invoice = paid_invoice()  # the same customer: its contact is found in our mapping, not created again
    await platform.publish(second_invoice)
    await platform.attached(second_invoice.invoice_id)

    assert await platform.ledger_kinds(event.invoice_id) == ["queued", "booked", "file_attached"]
    documents = one_document_per_number(platform)
    assert len(documents) == 2
    assert len(platform.sandbox.store.of_kind("contact")) == 1
    assert len(await platform.synced(event.invoice_id)) == 1
    contact_calls = [(m, p) for m, p, _ in platform.requests() if p.startswith("/v1/contacts")]
    assert contact_calls == [("GET", "/v1/contacts"), ("POST", "/v1/contacts")], "the second invoice used the mapping"


async def test_a_504_after_the_voucher_was_committed_books_it_once(platform: Platform) -> None:
    platform.sandbox.app.faults.add(
        CommitThenStatusFault(
            method="POST", path_prefix=VOUCHERS, times=1, body={"message": "Endpoint request timed out"}
        )
    )
    event = paid_invoice()
    await platform.publish(event)

    rows = await platform.attached(event.invoice_id)
    assert [r["kind"] for r in rows] == ["queued", "booked", "file_attached"]
    assert rows[1]["details"]["found_after_ambiguous_create"] is True
    assert one_document_per_number(platform)[event.invoice_number or ""][0]["id"] == rows[1]["lexoffice_id"]
    requests = platform.requests()
    assert [s for m, p, s in requests if (m, p) == ("POST", VOUCHERS)] == [504], "not created a second time"
    assert ("GET", "/v1/voucherlist", 200) in requests, "looked up by voucherNumber"


async def test_a_non_eur_invoice_needs_manual_booking_and_calls_nobody(
    platform: Platform, caplog: pytest.LogCaptureFixture, ops_chat: OpsChat
) -> None:
    event = paid_invoice(currency="usd")
    await platform.publish(event)
    await platform.publish(event, event_id="evt_again")

    async def recorded() -> list[str] | None:
        kinds = await platform.ledger_kinds(event.invoice_id)
        return kinds or None

    assert await eventually(recorded, timeout=30, what="manual-booking row") == ["needs_manual_booking"]
    row = (await platform.ledger(event.invoice_id))[0]
    assert row["reason"] == "currency USD: Lexoffice books only EUR"
    assert (row["currency"], str(row["amount"])) == ("USD", "129.70")
    await asyncio.sleep(1)
    assert await platform.ledger_kinds(event.invoice_id) == ["needs_manual_booking"], "once, for two events"
    assert await platform.effects() == {}
    assert platform.requests() == []
    assert any("needs manual booking" in r.getMessage() or "ops alert" in r.getMessage() for r in caplog.records)
    assert ops_chat.texts == [
        f"[lexoffice-bridge] Stripe invoice {event.invoice_number} ({event.invoice_id}) needs manual booking in"
        " Lexoffice: currency USD: Lexoffice books only EUR"
    ], "delivered to the ops channel, once"


@pytest.mark.parametrize(
    ("sandbox_options", "settings_extra"),
    # The sandbox admits 4 requests per second (burst 1); the bridge is told it may send 50: a 429 storm.
    [
        (
            {"rate_per_second": 4.0, "burst": 1.0},
            {"LEXOFFICE_RATE_LIMIT_PER_SECOND": 50, "LEXOFFICE_MAX_ATTEMPTS": 6, "LEXOFFICE_BACKOFF_BASE_SECONDS": 0.2},
        )
    ],
    indirect=True,
)
async def test_a_429_storm_books_everything_once(platform: Platform) -> None:
    counted_before = await counted_429s(platform)  # the process's counter: other tests' 429s may be in it
    events = [paid_invoice(customer_id=f"cus_{n % 2}", email=f"customer{n % 2}@example.com") for n in range(4)]
    await asyncio.gather(*(platform.publish(event) for event in events))
    for event in events:
        await platform.attached(event.invoice_id, timeout=90)

    documents = one_document_per_number(platform)
    assert sorted(documents) == sorted(e.invoice_number or "" for e in events)
    assert len(platform.sandbox.store.of_kind("contact")) == 2
    statuses = Counter(s for _, _, s in platform.requests())
    assert statuses[429] > 0, "the sandbox did throttle"
    assert await counted_429s(platform) - counted_before == statuses[429], "every 429 is counted"
    for event in events:
        assert await platform.ledger_kinds(event.invoice_id) == ["queued", "booked", "file_attached"]


async def test_two_stripe_customers_with_one_e_mail_share_its_contact(platform: Platform) -> None:
    first = paid_invoice(customer_id="cus_first", email="shared@example.com")
    await platform.publish(first)
    await platform.attached(first.invoice_id)
    second = paid_invoice(customer_id="cus_second", email="shared@example.com")
    await platform.publish(second)
    await platform.attached(second.invoice_id)

    assert len(platform.sandbox.store.of_kind("contact")) == 1, "found by e-mail, not created again"
    assert sorted(one_document_per_number(platform)) == sorted(
        [first.invoice_number or "", second.invoice_number or ""]
    )


async def counted_429s(platform: Platform) -> float:
    """`provider_errors_total{provider="lexoffice", error="http_429"}` on the bridge's /metrics, over its methods."""
    async with httpx.AsyncClient(base_url=platform.url) as http:
        text = (await http.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "provider_errors_total"
        and sample.labels.get("provider") == "lexoffice"
        and sample.labels.get("error") == "http_429"
    )


async def test_a_paid_invoice_without_a_number_is_dead_lettered(platform: Platform) -> None:
    event = paid_invoice(invoice_number=None)
    await platform.publish(event)
    (record,) = await read_records(platform.bootstrap, dlq_topic(platform.group), expect=1, timeout=30)
    assert dict(record.headers)["dlq_reason"].decode().startswith("poison")
    assert await platform.ledger(event.invoice_id) == []
    assert await platform.effects() == {}
    assert platform.requests() == []
