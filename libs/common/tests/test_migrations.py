import asyncpg
import pytest

from intplat_common import migrate

from .conftest import MIGRATIONS

pytestmark = pytest.mark.integration


async def test_migrations_create_tables_and_are_idempotent(database: str) -> None:
    await migrate(database, MIGRATIONS)
    await migrate(database, MIGRATIONS)  # second run: nothing to do, no error
    conn = await asyncpg.connect(database)
    try:
        tables = {
            r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()
    assert {"outbox", "inbox", "applied_effects", "alembic_version"} <= tables
    assert version == "0002"
