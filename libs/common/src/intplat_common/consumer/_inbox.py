"""The inbox table: one row per `(consumer, source, event_id)`, written in the handler's transaction, so a
redelivered record is recognised as a duplicate instead of being applied again."""

from __future__ import annotations

import asyncpg

from ._handler import ConsumedEvent

_INSERT = (
    "INSERT INTO inbox (consumer, source, event_id, topic, kafka_partition, kafka_offset, outcome)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true"
)


async def record_processed(conn: asyncpg.Connection, group: str, consumed: ConsumedEvent) -> bool:
    """Claims the record for `group` in the caller's transaction; False when it was seen before (a duplicate)."""
    return bool(await conn.fetchval(_INSERT, *_row(group, consumed), "processed"))


async def record_dead_lettered(conn: asyncpg.Connection, group: str, consumed: ConsumedEvent) -> None:
    """Marks a record the group gave up on, so a redelivery of it is skipped like a processed one."""
    await conn.fetchval(_INSERT, *_row(group, consumed), "dead_lettered")


def _row(group: str, consumed: ConsumedEvent) -> tuple[str, str, str, str, int, int]:
    event = consumed.event
    return group, event.source, event.id, consumed.topic, consumed.partition, consumed.offset
