"""instagram-sync on real Kafka and PostgreSQL with the Meta sandbox, its workers embedded: a signed Stripe
subscription webhook (through the stripe-gateway) sets the tier, the scheduler's requests are consumed by the sync
worker, the connection-expiring event reaches Kafka for the notifier, and a cancellation stops the syncs."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from intplat_devstack.postgres import create_database
from intplat_devstack.testing import eventually, read_records, stripe_signature
from intplat_sandboxes.framework import SandboxClock
from intplat_sandboxes.meta import BAKERY_ACCOUNT_ID, MetaSandbox, create_meta_sandbox

from instagram_sync.schedule import emit_due
from intplat_common import TopicConfig, ensure_topics
from intplat_common.events import TOPICS, InstagramConnectionExpiring
from stripe_gateway.app import create_app as create_gateway
from stripe_gateway.settings import GatewaySettings

from .conftest import API_KEY_HEADERS, APP_ID, APP_SECRET, Served

WHSEC = "whsec_instagram_test"
EMBEDDED = {
    "INSTAGRAM_SYNC_EMBEDDED_WORKERS": "relay,consumer,scheduler",
    "INSTAGRAM_SYNC_HOURLY_PERIOD_SECONDS": 4,
    "INSTAGRAM_SYNC_SCHEDULER_POLL_SECONDS": 0.5,
}

# Only the relay: the test makes the sync itself. A consumer would also replay the sync requests earlier tests left
# on the session's topic (a new group reads from the earliest offset), and one for the customer's other account
# (Ada's Facebook login connects the bakery and the tiny shop) would mark that account too: a second, rightful event.
RELAY_ONLY = {"INSTAGRAM_SYNC_EMBEDDED_WORKERS": "relay"}


@pytest.fixture
def meta() -> MetaSandbox:
    """On a clock that flows (the scheduler waits for real slots), shifted when a test moves it."""
    return create_meta_sandbox(app_id=APP_ID, app_secret=APP_SECRET, clock=SandboxClock())


@pytest.fixture
async def topics(kafka: Any) -> None:
    configs = [TopicConfig(t.name, t.partitions) for t in TOPICS.values()]
    await ensure_topics(kafka.bootstrap_servers, configs, replication_factor=1)


@pytest.fixture
async def gateway(postgres: Any, kafka: Any, topics: None) -> AsyncIterator[httpx.AsyncClient]:
    """The stripe-gateway (its own database, its relay embedded): Stripe's side of the tier change."""
    name = f"t_gw_{uuid.uuid4().hex[:10]}"
    await create_database(postgres.dsn("postgres"), name)
    settings = GatewaySettings(
        STRIPE_GATEWAY_DATABASE_URL=postgres.dsn(name),
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        STRIPE_WEBHOOK_SECRETS=WHSEC,
        INTERNAL_API_KEYS="gw-test-key",
        INTPLAT_ENVIRONMENT="test",
    )
    app: FastAPI = create_gateway(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


def subscription_event(customer_id: str, status: str, lookup_key: str) -> dict[str, Any]:
    now = int(time.time())
    item = {
        "id": f"si_{uuid.uuid4().hex[:10]}",
        "object": "subscription_item",
        "price": {"id": f"price_{lookup_key}", "object": "price", "lookup_key": lookup_key, "product": "prod_ig"},
        "quantity": 1,
        "current_period_start": now,
        "current_period_end": now + 30 * 86_400,
    }
    subscription = {
        "id": "sub_ig",
        "object": "subscription",
        "customer": customer_id,
        "status": status,
        "currency": "eur",
        "items": {"object": "list", "data": [item], "has_more": False, "url": "/v1/subscription_items"},
        "metadata": {},
    }
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": "customer.subscription.updated",
        "api_version": "2025-03-31.basil",
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": subscription, "previous_attributes": {}},
    }


async def deliver(gateway: httpx.AsyncClient, event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    headers = {"Stripe-Signature": stripe_signature(body, WHSEC), "Content-Type": "application/json"}
    answer = await gateway.post("/webhooks/stripe", content=body, headers=headers)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("settings_extra", [EMBEDDED], indirect=True)
async def test_a_signed_subscription_webhook_sets_the_tier_and_a_cancellation_stops_syncs(
    served: Served, gateway: httpx.AsyncClient, kafka: Any, settings_extra: dict[str, Any]
) -> None:
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    await served.connect("facebook", customer)
    assert await served.pool.fetchval("SELECT count(*) FROM sync_schedule") == 0, "no plan, no syncs"
    await deliver(gateway, subscription_event(customer, "active", "instagram_pro_monthly"))

    async def tier() -> str | None:
        return await served.pool.fetchval("SELECT tier FROM sync_schedule WHERE account_id = $1", BAKERY_ACCOUNT_ID)

    assert await eventually(tier, timeout=90, what="the account on the hourly schedule") == "hourly"
    status = await served.client.get(f"/v1/accounts/{BAKERY_ACCOUNT_ID}/connection", headers=API_KEY_HEADERS)
    schedule = status.json()["schedule"]
    assert (schedule["tier"], schedule["period_seconds"]) == ("hourly", 4)
    assert datetime.fromisoformat(schedule["next_slot"]) > served.meta.now() - timedelta(seconds=8)

    async def snapshots() -> int | None:
        count = await served.pool.fetchval(
            "SELECT count(*) FROM instagram_account_snapshots WHERE account_id = $1", BAKERY_ACCOUNT_ID
        )
        return count if count >= 2 else None

    await eventually(snapshots, timeout=120, what="two scheduled syncs, consumed by the sync worker")

    await deliver(gateway, subscription_event(customer, "canceled", "instagram_pro_monthly"))

    async def unscheduled() -> bool | None:
        return await served.pool.fetchval("SELECT count(*) = 0 FROM sync_schedule") or None

    await eventually(unscheduled, timeout=90, what="the cancellation took the accounts off the schedule")
    far = served.meta.now() + timedelta(days=30)
    assert await emit_due(served.pool, far) == 0, "no slot is due any more, however long we wait"
    tier_row = await served.pool.fetchrow("SELECT tier, status FROM customer_tiers WHERE customer_id = $1", customer)
    assert (tier_row["tier"], tier_row["status"]) == ("none", "canceled")


@pytest.mark.parametrize("settings_extra", [RELAY_ONLY], indirect=True)
async def test_a_refused_token_reaches_the_notifiers_topic(
    served: Served, kafka: Any, topics: None, settings_extra: dict[str, Any]
) -> None:
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    await served.connect("facebook", customer)
    served.meta.clock.advance(61 * 86_400)
    async with served.pool.acquire() as conn, conn.transaction():
        assert (await served.components.sync.sync(conn, BAKERY_ACCOUNT_ID)).outcome == "needs_reconnect"
    records = await read_records(
        kafka.bootstrap_servers,
        InstagramConnectionExpiring.TOPIC,
        expect=1,
        quiet=2,
        where=lambda r: r.value is not None and json.loads(r.value).get("owner_customer_id") == customer,
    )
    (record,) = records
    assert record.key == BAKERY_ACCOUNT_ID.encode()
    assert record.value is not None
    event = InstagramConnectionExpiring.model_validate_json(record.value)
    assert (event.reason, event.username) == ("token_expired", "ada.bakery")
    assert dict(record.headers)["ce_type"] == InstagramConnectionExpiring.EVENT_TYPE.encode()
