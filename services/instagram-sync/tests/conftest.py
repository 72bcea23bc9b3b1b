"""Fixtures for the instagram-sync tests: settings, the service's database migrated on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from instagram_sync.settings import InstagramSyncSettings
from instagram_sync.storage import MIGRATIONS
from intplat_common import create_pool, migrate
from intplat_common.credentials import EncryptionKey

KEY = EncryptionKey.generate("test1").entry()


def make_settings(database: str = "postgresql://unused/none", **extra: Any) -> InstagramSyncSettings:
    values: dict[str, Any] = {
        "INSTAGRAM_SYNC_DATABASE_URL": database,
        "INTPLAT_ENVIRONMENT": "test",
        "META_GRAPH_API_BASE": "http://meta.test",
        "CREDENTIALS_ENCRYPTION_KEYS": KEY,
        "INTERNAL_API_KEYS": "test-internal-key",
        "INSTAGRAM_SYNC_EMBEDDED_WORKERS": "",
    }
    values.update(extra)
    return InstagramSyncSettings(**values)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    """The service's database, migrated."""
    await migrate(database, MIGRATIONS)
    pool = await create_pool(database, max_size=4)
    yield pool
    await pool.close()
