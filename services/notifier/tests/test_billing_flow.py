"""Billing and Instagram events through real Kafka and PostgreSQL to the Postmark sandbox: one mail per event."""

from __future__ import annotations

import json
from typing import Any

import pytest
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import ReservedPort
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from intplat_common import dlq_topic
from intplat_common.events import CloudEvent, to_kafka_headers
from stripe_gateway.routes.sessions import PortalSessionRequest

from .conftest import (
    GATEWAY_KEY,
    Platform,
    Recorder,
    Topics,
    dead_letters,
    make_settings,
    publish,
    publish_raw,
    running_notifier,
)
from .samples import checkout, connection_expiring, invoice, payment_failed

pytestmark = pytest.mark.integration


def by_recipient(platform: Platform) -> dict[str, Any]:
    return {m.to: m for m in platform.sandbox.messages}


def outcomes(spans: InMemorySpanExporter, event_id: str) -> list[str]:
    return [
        str(span.attributes.get("intplat.outcome"))
        for span in spans.get_finished_spans()
        if span.name.endswith(" process")
        and span.attributes
        and span.attributes.get("messaging.message.id") == event_id
    ]


def customer_lookups(spans: InMemorySpanExporter, customer_id: str) -> list[Any]:
    return [
        span
        for span in spans.get_finished_spans()
        # url.full (stable HTTP semconv) or http.url (the old names, if the instrumentation was set up first)
        if span.attributes
        and any(f"/v1/customers/{customer_id}" in str(span.attributes.get(k, "")) for k in ("url.full", "http.url"))
    ]


async def test_each_event_type_becomes_one_mail_with_template_locale_recipient_and_links(
    platform: Platform, topics: Topics, kafka: Any, gateway: Recorder
) -> None:
    bootstrap = kafka.bootstrap_servers
    await publish(bootstrap, topics.names["checkout"], checkout("cus_ada", "ada@example.com", "de"), event_id="evt_co")
    await eventually(lambda: platform.pool.fetchval("SELECT count(*) FROM messages"), what="checkout recorded")
    # No address in a PaymentIntent: the notifier remembers Ada from the checkout.
    await publish(bootstrap, topics.names["payment"], payment_failed("cus_ada"), event_id="evt_pf")
    await publish(bootstrap, topics.names["invoice"], invoice("cus_bob", "bob@example.com", "en-GB"), event_id="evt_in")
    expiring = connection_expiring(owner_customer_id=None, owner_email="carol@example.com", username="carol.shop")
    await publish(bootstrap, topics.names["instagram"], expiring, event_id="evt_ig", source="/instagram-sync")

    async def four_sent() -> bool:
        sent = await platform.pool.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'")
        return bool(sent == 4)

    await eventually(four_sent, what="four mails sent")
    mails = by_recipient(platform)
    assert len(platform.sandbox.messages) == 4
    assert set(mails) == {"ada@example.com", "bob@example.com", "carol@example.com"}
    ada = sorted((m for m in platform.sandbox.messages if m.to == "ada@example.com"), key=lambda m: m.tag)
    order, failed = ada
    assert (order.tag, order.subject) == ("order_confirmation", "Ihre Bestellung ist bestätigt (ORD-42)")
    assert "Hallo Ada Lovelace," in order.text_body and "11,90 €" in order.html_body

    assert (failed.tag, failed.subject) == ("payment_failed", "Ihre Zahlung über 11,90 € ist fehlgeschlagen")
    assert "Ihre Karte ist nicht ausreichend gedeckt." in failed.text_body
    assert "https://billing.stripe.com/p/session/bps_1" in failed.html_body
    (portal_call,) = gateway.calls
    assert portal_call["headers"]["x-internal-api-key"] == GATEWAY_KEY
    assert portal_call["headers"]["idempotency-key"].startswith("notifier-portal-")
    assert portal_call["body"]["customer"] == "cus_ada" and portal_call["body"]["locale"] == "de"
    PortalSessionRequest.model_validate(portal_call["body"])  # what the gateway's proxy accepts

    receipt = mails["bob@example.com"]
    assert (receipt.tag, receipt.subject) == ("invoice_receipt", "Receipt for invoice INV-0001")
    for part in (receipt.html_body, receipt.text_body):
        assert "https://invoice.stripe.com/i/acct_1/test_inv1" in part
        assert "https://pay.stripe.com/invoice/acct_1/test_inv1/pdf" in part
        assert "€11.90" in part

    reminder = mails["carol@example.com"]
    assert reminder.tag == "instagram_reconnect"
    assert reminder.subject == "Please reconnect your Instagram account @carol.shop"
    assert "http://127.0.0.1:3000/instagram/reconnect?account_id=17841400000000001" in reminder.text_body

    rows = await platform.rows()
    assert {r["source_ref"] for r in rows} == {"evt_co", "evt_pf", "evt_in", "evt_ig"}
    assert {r["dedupe_key"] for r in rows} >= {
        "/stripe-gateway#evt_co:order_confirmation:ada@example.com",
        "/instagram-sync#evt_ig:instagram_reconnect:carol@example.com",
    }
    known = await platform.pool.fetchrow("SELECT * FROM customers WHERE customer_id = 'cus_ada'")
    assert (known["email"], known["locale"], known["source"]) == ("ada@example.com", "de", "checkout")
    assert await dead_letters(bootstrap, dlq_topic(topics.group)) == []


async def test_the_same_event_five_times_is_one_mail(
    platform: Platform, topics: Topics, kafka: Any, spans: InMemorySpanExporter
) -> None:
    await publish(kafka.bootstrap_servers, topics.names["invoice"], invoice(), event_id="evt_5x", times=5)
    await eventually(lambda: _n(outcomes(spans, "evt_5x"), 5), what="all five deliveries consumed")
    assert sorted(outcomes(spans, "evt_5x")) == ["duplicate"] * 4 + ["processed"]
    (row,) = await platform.rows()
    assert (await platform.settled(row["id"]))["status"] == "sent"
    assert len(platform.sandbox.messages) == 1
    assert await platform.pool.fetchval("SELECT count(*) FROM inbox") == 1


async def test_a_single_receipt_is_sent_in_the_trace_of_its_event(
    platform: Platform, topics: Topics, kafka: Any, spans: InMemorySpanExporter
) -> None:
    upstream = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"  # the gateway's request span, as the outbox stores it
    await publish(
        kafka.bootstrap_servers, topics.names["invoice"], invoice(), event_id="evt_traced", traceparent=upstream
    )
    (row,) = await eventually(platform.rows, what="receipt recorded")
    assert (await platform.settled(row["id"]))["status"] == "sent"
    in_trace = [s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == "ab" * 16]
    names = {s.name for s in in_trace}
    assert "notifier send" in names, names
    urls = [str((s.attributes or {}).get("url.full")) for s in in_trace]
    postmark_calls = [u for s, u in zip(in_trace, urls, strict=True) if s.kind == SpanKind.CLIENT and "/email" in u]
    assert postmark_calls, "the Postmark call is a span of the event's trace"
    assert len(platform.sandbox.messages) == 1


async def _n(items: list[Any], count: int) -> bool:
    return len(items) >= count


async def test_crash_between_send_and_offset_commit_and_a_group_reset_send_nothing_new(
    database: str,
    kafka: Any,
    stripe_mock: str,
    postmark_sandbox: tuple[Any, str],
    notifier_port: ReservedPort,
    topics: Topics,
    spans: InMemorySpanExporter,
) -> None:
    box, box_url = postmark_sandbox
    settings = make_settings(database, kafka.bootstrap_servers, box_url, stripe_mock, **topics.settings())
    async with running_notifier(settings, notifier_port, box, box_url) as first:
        runner = await eventually(lambda: _runner(first), what="consumer running")

        async def crash_before_commit(_partitions: object) -> None:
            """The process dies after the mail went out, before Kafka learned the offset."""

        runner._commit = crash_before_commit
        await publish(kafka.bootstrap_servers, topics.names["invoice"], invoice(), event_id="evt_crash")
        (row,) = await eventually(first.rows, what="mail recorded")
        assert (await first.settled(row["id"]))["status"] == "sent"
    assert outcomes(spans, "evt_crash") == ["processed"]

    async with running_notifier(settings, notifier_port, box, box_url) as second:
        await eventually(lambda: _n(outcomes(spans, "evt_crash"), 2), what="record delivered again after the restart")
        assert outcomes(spans, "evt_crash") == ["processed", "duplicate"]
        assert len(await second.rows()) == 1

    # A new consumer group (offsets reset) reads everything again; its inbox is empty, the ledger still says no.
    reset = make_settings(
        database,
        kafka.bootstrap_servers,
        box_url,
        stripe_mock,
        **{**topics.settings(), "NOTIFIER_CONSUMER_GROUP": f"{topics.group}-reset"},
    )
    async with running_notifier(reset, notifier_port, box, box_url) as third:
        await eventually(lambda: _n(outcomes(spans, "evt_crash"), 3), what="record read by the new group")
        assert outcomes(spans, "evt_crash")[-1] == "processed"
        assert len(await third.rows()) == 1
    assert len(box.messages) == 1


async def _runner(platform: Platform) -> Any:
    return platform.app.state.consumer.runner


async def test_unknown_customer_is_looked_up_at_stripe_and_recorded_when_no_address(
    platform: Platform, topics: Topics, kafka: Any, spans: InMemorySpanExporter
) -> None:
    await publish(kafka.bootstrap_servers, topics.names["payment"], payment_failed("cus_nobody"), event_id="evt_nobody")
    row = await eventually(
        lambda: platform.pool.fetchrow("SELECT * FROM messages WHERE source_ref = 'evt_nobody'"), what="row"
    )
    # stripe-mock answers every customer with `email: null`: nobody to write to yet; the mail waits for an address
    # (test_waiting_recipient.py covers what happens next).
    assert row["status"] == "waiting"
    assert row["recipient"] is None
    assert "waiting for an e-mail address of customer cus_nobody" in row["error"]
    assert len(customer_lookups(spans, "cus_nobody")) == 1
    assert platform.sandbox.messages == []
    assert await dead_letters(kafka.bootstrap_servers, dlq_topic(topics.group)) == []

    # Known from an earlier invoice: no Stripe call, the right person and language.
    await publish(
        kafka.bootstrap_servers,
        topics.names["invoice"],
        invoice("cus_known", "eve@example.com", "de"),
        event_id="evt_i2",
    )
    await eventually(lambda: platform.pool.fetchval("SELECT 1 FROM customers WHERE customer_id = 'cus_known'"))
    await publish(kafka.bootstrap_servers, topics.names["payment"], payment_failed("cus_known"), event_id="evt_pf2")
    failed = await eventually(
        lambda: platform.pool.fetchrow("SELECT * FROM messages WHERE source_ref = 'evt_pf2'"), what="row"
    )
    assert (failed["recipient"], failed["locale"], failed["recipient_name"]) == (
        "eve@example.com",
        "de",
        "Ada Lovelace",
    )
    assert customer_lookups(spans, "cus_known") == []
    # The gateway is unreachable in this test and no fallback URL is set: after a few tries the mail goes without
    # the button rather than not at all.
    settled = await platform.settled(failed["id"])
    assert settled["status"] == "sent" and settled["attempts"] == 3
    (mail,) = [m for m in platform.sandbox.messages if m.tag == "payment_failed"]
    assert "melden Sie sich in Ihrem Konto an" in mail.text_body
    assert "billing.stripe.com" not in mail.html_body


async def test_poison_records_are_dead_lettered_and_ops_is_alerted_once(
    platform: Platform, topics: Topics, kafka: Any, chat: Recorder
) -> None:
    bootstrap = kafka.bootstrap_servers
    broken = {"invoice_id": "in_x", "amount_paid": "lots"}
    for event_id in ("evt_bad1", "evt_bad2"):
        event = CloudEvent(id=event_id, source="/stripe-gateway", type="com.intplat.billing.invoice.paid.v1",
                           time=invoice().stripe_created, data=broken)  # fmt: skip
        await publish_raw(bootstrap, topics.names["invoice"], json.dumps(broken).encode(), to_kafka_headers(event))
    dead = await dead_letters(bootstrap, dlq_topic(topics.group), expect=2, timeout=30)
    assert [dict(r.headers)["ce_id"] for r in dead] == [b"evt_bad1", b"evt_bad2"]
    assert all(dict(r.headers)["dlq_reason"].startswith(b"poison: invalid InvoicePaid payload") for r in dead)
    await eventually(lambda: _n(chat.calls, 1), what="alert posted")
    (alert,) = chat.calls
    assert "dead-lettered a record from" in alert["text"] and "evt_bad1" in alert["text"]
    assert await platform.rows() == []
