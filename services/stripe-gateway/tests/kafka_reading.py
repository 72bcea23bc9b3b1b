"""Reading what the gateway published, filtered to the events a test sent (topics are shared by the session)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord


async def records_for(
    bootstrap: str, topics: list[str], event_ids: set[str], *, expect: int, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on `topics` whose ce_id is one of `event_ids`; waits for `expect` of them, then 1 s more."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    try:
        deadline = loop.time() + timeout
        quiet_until: float | None = None
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found.extend(r for r in records if header(r, "ce_id") in event_ids)
            if len(found) >= expect and quiet_until is None:
                quiet_until = loop.time() + 1.0
            if quiet_until is not None and loop.time() >= quiet_until:
                break
    finally:
        await consumer.stop()
    return found


def header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None
