"""From a signed webhook to Kafka records: mapping, CloudEvents headers, keys, one trace, outages of either store."""

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from intplat_devstack.samples import LATEST_API_VERSION, LEGACY_API_VERSION, build_event, fetch_fixture_objects
from intplat_devstack.testing import header, header_in, read_records
from opentelemetry.trace import SpanKind

from stripe_gateway.app import create_app

from .conftest import deliver, make_settings, new_event

pytestmark = pytest.mark.integration

BILLING = {
    "checkout.session.completed": "billing.checkout.completed.v1",
    "invoice.paid": "billing.invoice.paid.v1",
    "customer.subscription.updated": "billing.subscription.updated.v1",
    "payment_intent.payment_failed": "billing.payment.failed.v1",
}


@pytest.mark.parametrize("api_version", [LATEST_API_VERSION, LEGACY_API_VERSION])
async def test_the_four_events_reach_their_topics_with_cloudevents_headers(
    api_version: str, client: httpx.AsyncClient, kafka, stripe_mock: str
) -> None:
    from intplat_devstack.samples import to_legacy_layout

    objects = await fetch_fixture_objects(stripe_mock, customer_id="cus_fourevents")
    sent: dict[str, str] = {}
    for stripe_type in BILLING:
        obj = objects[stripe_type]
        if api_version == LEGACY_API_VERSION:
            obj = to_legacy_layout(stripe_type, obj)
        event = build_event(stripe_type, obj, api_version=api_version)
        response = await deliver(client, event)
        assert response.status_code == 200, response.text
        sent[event["id"]] = stripe_type

    records = await read_records(
        kafka.bootstrap_servers, "stripe.events.v1", *BILLING.values(), expect=8, where=header_in("ce_id", sent)
    )
    assert len(records) == 8, "each event once on stripe.events.v1 and once on its billing topic"
    for record in records:
        stripe_type = sent[header(record, "ce_id") or ""]
        assert record.key == b"cus_fourevents"
        assert header(record, "ce_specversion") == "1.0"
        assert header(record, "traceparent") is not None
        body = json.loads(record.value)
        if record.topic == "stripe.events.v1":
            assert header(record, "ce_source") == "/stripe/events"
            assert body["type"] == stripe_type
            assert body["api_version"] == api_version
        else:
            assert record.topic == BILLING[stripe_type]
            assert header(record, "ce_source") == "/stripe-gateway"
            assert header(record, "ce_type") == f"com.intplat.{record.topic}"
            assert body["stripe_event_id"] == header(record, "ce_id")
            assert body["stripe_api_version"] == api_version
            assert body["customer_id"] == "cus_fourevents"


async def test_refunds_reach_the_refund_topic_with_the_document_they_refer_to(
    client: httpx.AsyncClient, kafka, stripe_mock: str
) -> None:
    objects = await fetch_fixture_objects(stripe_mock, customer_id="cus_refunds")
    credit_note = build_event("credit_note.created", objects["credit_note.created"], api_version=LATEST_API_VERSION)
    pending = {**objects["refund.created"], "status": "pending"}
    created = build_event("refund.created", pending, api_version=LATEST_API_VERSION)
    settled = build_event(
        "refund.updated",
        objects["refund.created"],
        api_version=LATEST_API_VERSION,
        previous_attributes={"status": "pending"},
    )
    sent = [credit_note, created, settled]
    for event in sent:
        response = await deliver(client, event)
        assert response.status_code == 200, response.text

    records = await read_records(
        kafka.bootstrap_servers,
        "stripe.events.v1",
        "billing.refund.succeeded.v1",
        expect=5,
        where=header_in("ce_id", {event["id"] for event in sent}),
    )
    assert len([r for r in records if r.topic == "stripe.events.v1"]) == 3
    refunds = {header(r, "ce_id"): r for r in records if r.topic == "billing.refund.succeeded.v1"}
    assert set(refunds) == {credit_note["id"], settled["id"]}, "the pending refund is published once it succeeded"
    for record in refunds.values():
        assert record.key == b"cus_refunds"
        assert header(record, "ce_source") == "/stripe-gateway"
        assert header(record, "ce_type") == "com.intplat.billing.refund.succeeded.v1"
        assert header(record, "traceparent") is not None
    note = json.loads(refunds[credit_note["id"]].value)
    assert (note["source"], note["invoice_id"], note["amount"]) == ("credit_note", objects["invoice.paid"]["id"], 2380)
    assert note["credit_note_refund_ids"] == ["re_1DemoCreditNote"]
    assert [(tax["amount"], tax["taxable_amount"]) for tax in note["taxes"]] == [(380, 2000)]
    refund = json.loads(refunds[settled["id"]].value)
    assert (refund["source"], refund["refund_id"], refund["taxes"]) == ("refund", "re_1DemoCheckout", None)
    assert refund["payment_intent_id"] == objects["checkout.session.completed"]["payment_intent"]


async def test_unpaid_checkout_is_not_a_completed_purchase(client: httpx.AsyncClient, kafka, stripe_mock) -> None:
    objects = await fetch_fixture_objects(stripe_mock, customer_id="cus_unpaid")
    session = {**objects["checkout.session.completed"], "payment_status": "unpaid"}
    pending = build_event("checkout.session.completed", session, api_version=LATEST_API_VERSION)
    settled = build_event(
        "checkout.session.async_payment_succeeded",
        {**session, "payment_status": "paid"},
        api_version=LATEST_API_VERSION,
    )
    for event in (pending, settled):
        assert (await deliver(client, event)).status_code == 200
    records = await read_records(
        kafka.bootstrap_servers,
        "stripe.events.v1",
        "billing.checkout.completed.v1",
        expect=3,
        where=header_in("ce_id", {pending["id"], settled["id"]}),
    )
    completed = [r for r in records if r.topic == "billing.checkout.completed.v1"]
    assert [header(r, "ce_id") for r in completed] == [settled["id"]]
    assert len([r for r in records if r.topic == "stripe.events.v1"]) == 2


async def test_one_trace_from_webhook_request_to_kafka_record(client: httpx.AsyncClient, kafka, spans) -> None:
    event = new_event()
    response = await deliver(client, event)
    assert response.status_code == 200
    records = await read_records(
        kafka.bootstrap_servers, "stripe.events.v1", expect=1, where=header_in("ce_id", {event["id"]})
    )
    assert len(records) == 1
    _, trace_id, parent_id, _ = (header(records[0], "traceparent") or "").split("-")
    in_trace = [s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id]
    server = [s for s in in_trace if s.kind == SpanKind.SERVER]
    assert len(server) == 1
    assert server[0].attributes is not None
    assert server[0].attributes["http.route"] == "/webhooks/stripe"
    assert server[0].attributes["stripe.event.id"] == event["id"]
    assert parent_id == format(server[0].context.span_id, "016x"), "the record continues the webhook request span"
    send = [s for s in in_trace if s.name == "stripe.events.v1 send"]
    assert len(send) == 1, "the relay's send span is in the same trace"
    assert send[0].kind == SpanKind.PRODUCER
    batch = [
        s
        for s in spans.get_finished_spans()
        if s.name == "webhook_events record"
        and any(link.context.span_id == server[0].context.span_id for link in s.links)
    ]
    assert len(batch) == 1, "the group-commit transaction links back to the request it served"
    db_spans = [
        s for s in spans.get_finished_spans() if s.parent is not None and s.parent.span_id == batch[0].context.span_id
    ]
    assert db_spans, "the database statements of that transaction are traced under it"


@pytest.mark.chaos
async def test_broker_down_webhooks_still_accepted_then_published_once_in_customer_order(
    controllable_kafka, database, stripe_mock, topics
) -> None:
    from intplat_common import TopicConfig, ensure_topics
    from intplat_common.events import TOPICS

    bootstrap = controllable_kafka.bootstrap_servers
    await ensure_topics(bootstrap, [TopicConfig(t.name, t.partitions) for t in TOPICS.values()], replication_factor=1)
    app = create_app(make_settings(database, bootstrap, stripe_mock))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            await asyncio.to_thread(controllable_kafka.stop)
            try:
                customers = [f"cus_order{i}" for i in range(4)]
                sent: list[dict[str, Any]] = []
                for n in range(40):
                    event = new_event(customer=customers[n % 4], sequence=n)
                    event["created"] = int(time.time()) + n
                    response = await deliver(client, event)
                    assert response.status_code == 200, "Kafka being down must not fail Stripe's delivery"
                    sent.append(event)
                waiting = await app.state.pool.fetchval("SELECT count(*) FROM outbox")
                assert waiting == 40
            finally:
                await asyncio.to_thread(controllable_kafka.start)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while await app.state.pool.fetchval("SELECT count(*) FROM outbox"):
                assert loop.time() < deadline, "the relay did not drain the outbox after the broker came back"
                await asyncio.sleep(0.2)
    ids = {e["id"] for e in sent}
    records = await read_records(bootstrap, "stripe.events.v1", expect=40, where=header_in("ce_id", ids))
    assert sorted(header(r, "ce_id") or "" for r in records) == sorted(ids), "each event exactly once"
    for customer in customers:
        mine = sorted((r for r in records if r.key == customer.encode()), key=lambda r: r.offset)
        sequence = [json.loads(r.value)["data"]["object"]["sequence"] for r in mine]
        assert sequence == sorted(sequence), f"order broken for {customer}"


@pytest.mark.chaos
async def test_postgres_down_is_503_nothing_half_written_and_recovers(
    postgres, kafka, client: httpx.AsyncClient, app
) -> None:
    assert postgres.controllable
    before = new_event()
    assert (await deliver(client, before)).status_code == 200
    await asyncio.to_thread(postgres.stop)
    try:
        during = new_event()
        response = await deliver(client, during)
        assert response.status_code == 503
        assert response.json()["error"] == "unavailable"
        assert response.headers["Retry-After"] == "5"
        ready = await client.get("/readyz")
        assert ready.status_code == 503
    finally:
        await asyncio.to_thread(postgres.start)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:  # Stripe's retry of the same event, after the database is back, succeeds by itself
        response = await deliver(client, during)
        if response.status_code == 200:
            break
        assert loop.time() < deadline, f"no recovery: {response.status_code} {response.text}"
        await asyncio.sleep(0.5)
    assert response.json()["status"] == "recorded", "nothing of the failed attempt was committed"
    published = await read_records(
        kafka.bootstrap_servers, "stripe.events.v1", expect=1, where=header_in("ce_id", {during["id"]})
    )
    assert len(published) == 1
