"""Shared fixtures of the end-to-end tests (Kafka, PostgreSQL, stripe-mock: intplat_devstack.pytest_plugin)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from intplat_devstack.infra import PostgresServer
from intplat_devstack.postgres import create_database


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
