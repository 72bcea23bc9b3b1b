import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from intplat_devstack.samples import fetch_fixture_objects
from intplat_devstack.testing import stripe_signature

from intplat_common import TopicConfig, ensure_topics
from intplat_common.events import TOPICS
from stripe_gateway.app import create_app
from stripe_gateway.settings import GatewaySettings

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
API_KEY = "test-internal-key-1"


@pytest.fixture(scope="session")
async def topics(kafka) -> None:
    await ensure_topics(
        kafka.bootstrap_servers, [TopicConfig(t.name, t.partitions) for t in TOPICS.values()], replication_factor=1
    )


@pytest.fixture(scope="module")
async def objects(stripe_mock: str) -> dict[str, dict[str, Any]]:
    """The sample Stripe objects (stripe-mock's fixtures, made coherent), by the event type that carries them."""
    return await fetch_fixture_objects(stripe_mock, customer_id="cus_Alice")


def make_settings(database: str, bootstrap: str, stripe_api_base: str, **extra: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "STRIPE_GATEWAY_DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "STRIPE_WEBHOOK_SECRETS": f"{SECRET},{OLD_SECRET}",
        "INTERNAL_API_KEYS": f"{API_KEY},test-internal-key-2",
        "STRIPE_API_BASE": stripe_api_base,
        "INTPLAT_ENVIRONMENT": "test",
    }
    values.update(extra)
    return GatewaySettings(**values)


@pytest.fixture
def settings(database: str, kafka, stripe_mock: str, topics: None) -> GatewaySettings:
    return make_settings(database, kafka.bootstrap_servers, stripe_mock)


@pytest.fixture
async def app(settings: GatewaySettings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("3.18.12.63", 443))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
        yield c


def new_event(type: str = "customer.created", customer: str | None = None, **object_fields: Any) -> dict[str, Any]:
    customer = customer or f"cus_{uuid.uuid4().hex[:14]}"
    obj = {"id": customer, "object": "customer", "email": "jane@example.com", **object_fields}
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": type,
        "api_version": "2025-03-31.basil",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def signature(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    return stripe_signature(body, secret, timestamp)


async def deliver(
    client: httpx.AsyncClient, event: dict[str, Any] | bytes, *, secret: str = SECRET, header: str | None = None
) -> httpx.Response:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    sig = header if header is not None else signature(body, secret)
    return await client.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": sig, "Content-Type": "application/json"}
    )
