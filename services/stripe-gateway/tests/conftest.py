from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from stripe_gateway.app import create_app
from stripe_gateway.settings import GatewaySettings


@pytest.fixture
def settings(database: str, kafka) -> GatewaySettings:  # type: ignore[no-untyped-def]
    return GatewaySettings(
        STRIPE_GATEWAY_DATABASE_URL=database,
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        STRIPE_WEBHOOK_SECRETS="whsec_test_1",
        INTERNAL_API_KEYS="test-key-1",
        INTPLAT_ENVIRONMENT="test",
    )


@pytest.fixture
async def app(settings: GatewaySettings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
        yield c
