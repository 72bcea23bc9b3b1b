"""The shared tables a new service creates in one step are exactly those an existing service reached through its
history of layouts (outbox v1, then v1 -> v2), down to storage and table options."""

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from intplat_common import upgrade_database
from intplat_common.db import INBOX_V1, OUTBOX_V1, SharedTable, create_shared_tables, upgrade_shared_table

from .conftest import MIGRATIONS

NEW_SERVICE_MIGRATIONS = Path(__file__).parent / "migrations_new_service"
SHARED_TABLES = ("outbox", "inbox")


async def describe(conn: asyncpg.Connection, table: str) -> dict[str, Any]:
    """What a table is, not how it got there (dropped columns, for one, leave no trace here)."""
    columns = await conn.fetch(
        "SELECT c.column_name, c.ordinal_position, c.data_type, c.is_nullable, c.column_default, c.is_identity,"
        " c.identity_generation, c.identity_start, c.identity_increment, c.identity_maximum, c.identity_cycle,"
        " a.attstorage::text AS storage, a.attcompression::text AS compression"
        " FROM information_schema.columns c"
        " JOIN pg_attribute a ON a.attrelid = $1::text::regclass AND a.attname = c.column_name"
        " WHERE c.table_schema = 'public' AND c.table_name = $1::text ORDER BY c.ordinal_position",
        table,
    )
    constraints = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint"
        " WHERE conrelid = $1::text::regclass ORDER BY conname",
        table,
    )
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1 ORDER BY indexname",
        table,
    )
    options = await conn.fetchrow(
        "SELECT relkind::text, relpersistence::text, reloptions FROM pg_class WHERE oid = $1::text::regclass", table
    )
    assert options is not None
    return {
        "columns": [dict(r) for r in columns],
        "constraints": [dict(r) for r in constraints],
        "indexes": [dict(r) for r in indexes],
        "options": dict(options),
    }


async def shared_tables_after(database: str, migrations: Path) -> dict[str, Any]:
    await asyncio.to_thread(upgrade_database, database, migrations)
    conn = await asyncpg.connect(database)
    try:
        return {table: await describe(conn, table) for table in SHARED_TABLES}
    finally:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")  # the next chain starts empty
        await conn.close()


@pytest.mark.integration
async def test_a_new_service_gets_the_shared_tables_an_upgraded_one_has(database: str) -> None:
    upgraded = await shared_tables_after(database, MIGRATIONS)
    fresh = await shared_tables_after(database, NEW_SERVICE_MIGRATIONS)
    assert fresh == upgraded
    assert upgraded["outbox"]["options"]["reloptions"] == ["toast_tuple_target=8160"]
    assert "published_at" not in {column["column_name"] for column in upgraded["outbox"]["columns"]}


def test_a_layout_with_no_previous_one_cannot_be_upgraded_to() -> None:
    with pytest.raises(ValueError, match="outbox layout 1 has no steps to upgrade"):
        upgrade_shared_table(OUTBOX_V1)


def test_shared_tables_are_created_in_the_order_given(monkeypatch: pytest.MonkeyPatch) -> None:
    executed: list[str] = []
    monkeypatch.setattr("alembic.op.execute", executed.append, raising=False)
    effects = SharedTable(name="effects", layout=1, create=("CREATE TABLE effects ()",))
    create_shared_tables(INBOX_V1, effects)
    assert executed == [*INBOX_V1.create, "CREATE TABLE effects ()"]
