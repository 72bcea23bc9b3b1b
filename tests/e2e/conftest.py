"""Shared fixtures of the end-to-end tests (Kafka, PostgreSQL, stripe-mock: intplat_devstack.pytest_plugin)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from intplat_devstack.infra import PostgresServer
from intplat_devstack.postgres import create_database
from intplat_devstack.testing import read_records, stripe_signature

from intplat_common.events import BookkeepingDocumentSynced
from lexoffice_bridge.settings import LexofficeBridgeSettings
from stripe_gateway.settings import GatewaySettings

WEBHOOK_SECRET = "whsec_test_e2e"
INTERNAL_KEY = "test-internal-e2e"
LEXOFFICE_KEY = "test-lexoffice-e2e"


def common_settings(bootstrap: str) -> dict[str, Any]:
    return {"INTPLAT_ENVIRONMENT": "test", "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "INTERNAL_API_KEYS": INTERNAL_KEY}


def gateway_settings(database: str, bootstrap: str, stripe_mock: str) -> GatewaySettings:
    return GatewaySettings(
        **common_settings(bootstrap),
        STRIPE_GATEWAY_DATABASE_URL=database,
        STRIPE_WEBHOOK_SECRETS=WEBHOOK_SECRET,
        STRIPE_API_BASE=stripe_mock,
    )


def bridge_settings(
    database: str, bootstrap: str, lexoffice_url: str, suffix: str, **extra: Any
) -> LexofficeBridgeSettings:
    return LexofficeBridgeSettings(
        **common_settings(bootstrap),
        LEXOFFICE_BRIDGE_DATABASE_URL=database,
        LEXOFFICE_BRIDGE_CONSUMER_GROUP=f"lexoffice-bridge-{suffix}",
        LEXOFFICE_API_BASE=lexoffice_url,
        LEXOFFICE_API_KEY=LEXOFFICE_KEY,
        LEXOFFICE_BRIDGE_BOOKER_POLL_SECONDS=0.2,
        **extra,
    )


async def deliver_twice(gateway_url: str, webhook: bytes) -> None:
    """Stripe delivers at least once: the signed webhook, twice."""
    async with httpx.AsyncClient(base_url=gateway_url) as http:
        for _ in range(2):
            signed = {"Stripe-Signature": stripe_signature(webhook, WEBHOOK_SECRET)}
            response = await http.post("/webhooks/stripe", content=webhook, headers=signed)
            assert response.status_code == 200, response.text


@pytest.fixture
async def databases(postgres: PostgresServer) -> AsyncIterator[dict[str, str]]:
    """One fresh database per service."""
    names = {service: f"t_{service}_{uuid.uuid4().hex[:8]}" for service in ("gateway", "bridge", "notifier")}
    for name in names.values():
        await create_database(postgres.dsn("postgres"), name)
    yield {service: postgres.dsn(name) for service, name in names.items()}
    admin = await asyncpg.connect(postgres.dsn("postgres"))
    try:
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def synced_values(bootstrap: str, source_id: str) -> list[dict[str, Any]]:
    """The `bookkeeping.document.synced.v1` events of one Stripe object (read until the topic is quiet for 2 s)."""
    records = await read_records(
        bootstrap,
        BookkeepingDocumentSynced.TOPIC,
        expect=1,
        quiet=2.0,
        where=lambda r: r.value is not None and json.loads(r.value)["source_id"] == source_id,
    )
    return [json.loads(r.value) for r in records]
