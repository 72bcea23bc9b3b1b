"""Payment status end to end against the Lexoffice sandbox: the bridge's event subscriptions (asserted at start and
recreated when one vanished), signed callbacks → `GET /v1/payments/{id}` → ledger rows once, `token.revoked` stops
every call, and the voucherlist reconciliation records a change whose callback was lost."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import httpx
import pytest
from intplat_devstack.testing import eventually

from lexoffice_bridge import ledger
from lexoffice_bridge.access import AccessGate, AccessRevoked
from lexoffice_bridge.ledger import LedgerEntry
from lexoffice_bridge.status_workers import StatusWorkers
from lexoffice_bridge.subscriptions import SUBSCRIBED_EVENTS

from .conftest import API_KEY, OpsChat, Platform, paid_invoice
from .fake_lexoffice import example

STATUS = {"LEXOFFICE_BRIDGE_EMBEDDED_STATUS": True, "LEXOFFICE_BRIDGE_CALLBACKS_POLL_SECONDS": 0.2}
pytestmark = [pytest.mark.integration, pytest.mark.parametrize("settings_extra", [STATUS], indirect=True)]

SUBSCRIPTIONS = "/v1/event-subscriptions"


def workers(platform: Platform) -> StatusWorkers:
    status: StatusWorkers = platform.app.state.status
    return status


def bridge_url(platform: Platform) -> str:
    return str(platform.app.state.settings.callback_url).removesuffix("/webhooks/lexoffice")


async def subscribed(platform: Platform) -> list[tuple[str, str]]:
    """The sandbox's subscriptions (event type, URL) once the bridge made them at start."""

    async def every_one() -> list[tuple[str, str]] | None:
        found = sorted((s.event_type, s.callback_url) for s in platform.sandbox.store.subscriptions.values())
        return found if len(found) == len(SUBSCRIBED_EVENTS) else None

    return await eventually(every_one, timeout=30, what="the bridge's subscriptions")


async def booked_voucher(platform: Platform) -> tuple[str, str]:
    """A paid invoice booked end to end: (its Stripe invoice id, its voucher id)."""
    event = paid_invoice()
    await platform.publish(event)
    rows = await platform.attached(event.invoice_id)
    return event.invoice_id, str(rows[1]["lexoffice_id"])


async def assign_payment(platform: Platform, voucher_id: str) -> None:
    """ "Payment assigned in Lexware", through the sandbox's admin hook."""
    async with httpx.AsyncClient(base_url=platform.sandbox_url) as http:
        answer = await http.post(f"/_sandbox/lexoffice/payments/{voucher_id}", json={"kind": "full"})
        assert answer.status_code == 200, answer.text


async def all_processed(platform: Platform, count: int) -> list[asyncpg.Record]:
    async def done() -> list[asyncpg.Record] | None:
        rows = await platform.pool.fetch("SELECT * FROM lexoffice_events ORDER BY received_at")
        return rows if len(rows) >= count and all(r["processed_at"] for r in rows) else None

    return await eventually(done, timeout=30, what=f"{count} callbacks processed")


async def test_the_subscriptions_are_made_at_start_for_the_callback_route(platform: Platform) -> None:
    url = str(platform.app.state.settings.callback_url)
    assert await subscribed(platform) == sorted((event_type, url) for event_type in SUBSCRIBED_EVENTS)


async def test_a_payment_assigned_in_lexoffice_is_recorded_once(platform: Platform) -> None:
    await subscribed(platform)
    invoice_id, voucher_id = await booked_voucher(platform)

    await assign_payment(platform, voucher_id)  # fires payment.changed and voucher.status.changed
    events = await all_processed(platform, 2)
    assert sorted(e["event_type"] for e in events) == ["payment.changed", "voucher.status.changed"]
    rows = await platform.ledger(invoice_id)
    assert [r["kind"] for r in rows] == ["queued", "booked", "file_attached", "status_changed", "payment_changed"]
    status, payment = rows[3], rows[4]
    assert (status["lexoffice_id"], status["details"]["voucherStatus"], status["details"]["via"]) == (
        voucher_id,
        "paid",
        "callback",
    )
    assert payment["details"]["openAmount"] == "0.00"
    assert payment["details"]["read"]["paymentStatus"] == "balanced"
    assert payment["details"]["read"]["paymentItems"][0]["paymentItemType"] == "manualPayment"

    # Lexoffice delivers the same callback again, then a later one for the same state: nothing new in the ledger.
    first = next(d for d in platform.sandbox.deliveries if d.payload["eventType"] == "payment.changed")
    async with httpx.AsyncClient(base_url=bridge_url(platform)) as http:
        headers = {"Content-Type": "application/json", "X-Lxo-Signature": first.signature}
        again = await http.post("/webhooks/lexoffice", content=first.body, headers=headers)
    assert again.json() == {"status": "duplicate"}
    later = platform.sandbox.now() + timedelta(seconds=5)
    assert platform.sandbox.emit("payment.changed", voucher_id, event_date=later) == 1
    # A callback for a resource the bridge did not book is processed and recorded nowhere else.
    platform.sandbox.emit("payment.changed", "00000000-0000-4000-8000-000000000000")
    events = await all_processed(platform, 4)
    outcomes = {(e["event_date"], e["resource_id"]): e["outcome"] for e in events}
    assert outcomes[(platform.sandbox.deliveries[-2].payload["eventDate"], voucher_id)] == "unchanged"
    assert outcomes[(platform.sandbox.deliveries[-1].payload["eventDate"], "00000000-0000-4000-8000-000000000000")] == (
        "unknown resource"
    )
    assert [r["kind"] for r in await platform.ledger(invoice_id)] == [r["kind"] for r in rows]
    payments = [p for m, p, _ in platform.requests() if m == "GET" and p.startswith("/v1/payments/")]
    assert payments == [f"/v1/payments/{voucher_id}"] * 3, "one read per callback of a booked document"


async def test_an_invoice_back_to_draft_is_a_status_change_without_payment_information(platform: Platform) -> None:
    await subscribed(platform)
    invoice = platform.sandbox.create_sales_document(
        "invoice",
        example("invoice.create", "net-one-time-address-service-period"),
        finalize=True,
        preceding_id=None,
        api_key=API_KEY,
    )
    booked = LedgerEntry(
        document_key="cs_draft",
        source="stripe_checkout",
        kind="booked",
        document_type="invoice",
        lexoffice_id=invoice.id,
        voucher_number=invoice.voucher_number,
    )
    await ledger.record(platform.pool, booked)
    async with httpx.AsyncClient(base_url=platform.sandbox_url) as http:
        answer = await http.post(f"/_sandbox/lexoffice/invoices/{invoice.id}/draft")
        assert answer.status_code == 200, answer.text

    events = await all_processed(platform, 2)  # payment.changed (payments then answer 406), invoice.status.changed
    assert sorted(e["event_type"] for e in events) == ["invoice.status.changed", "payment.changed"]
    rows = await platform.ledger("cs_draft")
    assert [r["kind"] for r in rows] == ["booked", "status_changed"]
    assert rows[1]["details"]["voucherStatus"] == "draft"
    assert rows[1]["details"]["read"]["id"] == invoice.id
    reads = [(p, s) for m, p, s in platform.requests() if m == "GET" and invoice.id in p]
    assert reads[:2] == [(f"/v1/payments/{invoice.id}", 406), (f"/v1/invoices/{invoice.id}", 200)]


async def test_a_vanished_subscription_is_recreated(platform: Platform) -> None:
    await subscribed(platform)
    keeper = workers(platform).subscriptions
    gone = next(s for s in platform.sandbox.store.subscriptions.values() if s.event_type == "payment.changed")
    platform.sandbox.delete_subscription(gone.id)  # e.g. deleted by Lexoffice after callbacks answered 404
    before = len(platform.requests())

    assert await keeper.run_once() == 1
    assert await keeper.run_once() == 0
    assert sorted(s.event_type for s in platform.sandbox.store.subscriptions.values()) == sorted(SUBSCRIBED_EVENTS)
    calls = [(m, p) for m, p, _ in platform.requests()[before:] if p.startswith(SUBSCRIPTIONS)]
    assert calls == [("GET", SUBSCRIPTIONS), ("POST", SUBSCRIPTIONS), ("GET", SUBSCRIPTIONS)]


async def test_token_revoked_alerts_once_and_stops_every_call(platform: Platform, ops_chat: OpsChat) -> None:
    await subscribed(platform)
    revoked_at = platform.sandbox.now()
    for delay in range(2):  # two deliveries (distinct event dates: the same one would be deduplicated on receipt)
        platform.sandbox.emit("token.revoked", "connection-1", event_date=revoked_at + timedelta(milliseconds=delay))
    await all_processed(platform, 2)

    def revoked() -> list[str]:
        return [t for t in ops_chat.texts if t.startswith("[lexoffice-bridge] Lexoffice revoked the bridge's access")]

    async def alerted() -> list[str] | None:
        return revoked() or None

    await eventually(alerted, timeout=20, what="the revocation on the shared ops channel")
    assert len(revoked()) == 1, "alerted once"

    before = len(platform.requests())
    with pytest.raises(AccessRevoked):
        await workers(platform).subscriptions.run_once()
    assert len(platform.requests()) == before, "no call reaches Lexoffice"
    async with httpx.AsyncClient(base_url=bridge_url(platform)) as http:
        metrics = (await http.get("/metrics")).text
    credential = workers(platform).access.credential
    assert re.search(rf'lexoffice_access_revoked\{{[^}}]*credential="{credential}"[^}}]*\}} 1(\.0)?\n', metrics)
    await AccessGate(platform.pool, "another-credential").check()  # a new key is not stopped


async def test_the_reconciliation_records_a_change_whose_callback_was_lost(platform: Platform) -> None:
    await subscribed(platform)
    invoice_id, voucher_id = await booked_voucher(platform)
    for subscription_id in list(platform.sandbox.store.subscriptions):
        platform.sandbox.delete_subscription(subscription_id)  # no callback will come
    await assign_payment(platform, voucher_id)
    reconciler = workers(platform).reconciler

    assert await reconciler.run_once() == 2
    rows = await platform.ledger(invoice_id)
    assert [r["kind"] for r in rows][-2:] == ["status_changed", "payment_changed"]
    assert {(r["details"]["via"], r["details"]["voucherStatus"]) for r in rows[-2:]} == {("voucherlist", "paid")}
    assert rows[-1]["details"]["openAmount"] == "0.00"
    assert rows[-1]["details"]["read"]["id"] == voucher_id

    before = len(platform.requests())
    assert await reconciler.run_once() == 0
    assert platform.requests()[before:] == [], "the document is paid: nothing open is left to look at"
