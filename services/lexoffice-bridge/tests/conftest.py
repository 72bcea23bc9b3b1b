"""Fixtures for the bridge tests: settings, and the bridge's database migrated on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from intplat_common import create_pool, migrate
from lexoffice_bridge.settings import LexofficeBridgeSettings
from lexoffice_bridge.storage import MIGRATIONS

API_KEY = "test-lexoffice-key"


def make_settings(database: str = "postgresql://unused/none", **extra: Any) -> LexofficeBridgeSettings:
    values: dict[str, Any] = {
        "LEXOFFICE_BRIDGE_DATABASE_URL": database,
        "INTPLAT_ENVIRONMENT": "test",
        "LEXOFFICE_API_BASE": "http://lexoffice.test",
        "LEXOFFICE_API_KEY": API_KEY,
        # The booking tests turn these on with Kafka and the sandbox; the others need neither.
        "LEXOFFICE_BRIDGE_EMBEDDED_CONSUMER": False,
        "LEXOFFICE_BRIDGE_EMBEDDED_BOOKER": False,
    }
    values.update(extra)
    return LexofficeBridgeSettings(**values)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    """The bridge's database, migrated."""
    await migrate(database, MIGRATIONS)
    pool = await create_pool(database, max_size=4)
    yield pool
    await pool.close()
