from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from intplat_common import create_pool, migrate

MIGRATIONS = Path(__file__).parent / "migrations"


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    await migrate(database, MIGRATIONS)
    pool = await create_pool(database, max_size=10)
    yield pool
    await pool.close()
