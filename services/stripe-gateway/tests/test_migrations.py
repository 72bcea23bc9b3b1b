"""Schema upgrades keep what is waiting to be published."""

import asyncio
import uuid

import asyncpg
import pytest

from intplat_common import upgrade_database
from stripe_gateway.storage import MIGRATIONS

pytestmark = pytest.mark.integration


async def test_outbox_becoming_a_queue_keeps_the_rows_not_yet_published(database: str) -> None:
    await asyncio.to_thread(upgrade_database, database, MIGRATIONS, "0002")
    conn = await asyncpg.connect(database)
    try:
        waiting, sent = uuid.uuid4(), uuid.uuid4()
        for row_id, published in ((waiting, False), (sent, True)):
            await conn.execute(
                "INSERT INTO outbox (id, aggregatetype, aggregateid, type, topic, payload, published_at)"
                " VALUES ($1, 'stripe_event', 'cus_1', 'invoice.paid', 'stripe.events.v1', '{}',"
                " CASE WHEN $2 THEN now() END)",
                row_id,
                published,
            )
        await asyncio.to_thread(upgrade_database, database, MIGRATIONS)
        assert [r["id"] for r in await conn.fetch("SELECT id FROM outbox")] == [waiting]
        columns = {
            r["column_name"]
            for r in await conn.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = 'outbox'")
        }
        assert "published_at" not in columns
        storage = await conn.fetchval(
            "SELECT attstorage::text FROM pg_attribute WHERE attrelid = 'outbox'::regclass AND attname = 'payload'"
        )
        assert storage == "e", "payloads inline or out of line, never compressed"
    finally:
        await conn.close()
