"""Small helpers the library tests share: topics and publishing CloudEvents (reading back: intplat_devstack.testing)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
from opentelemetry import trace

from intplat_common import (
    ConsumedEvent,
    ConsumerRunner,
    OutboxMessage,
    OutboxRelay,
    TopicConfig,
    create_producer,
    dlq_topic,
    enqueue,
    ensure_topics,
)
from intplat_common.events import CloudEvent, to_kafka_headers


async def new_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    await ensure_topics(bootstrap, [TopicConfig(n, partitions) for n in names], replication_factor=1)


async def publish_events(
    bootstrap: str, topic: str, events: list[tuple[str, dict[str, Any]]], *, key: str = "k"
) -> list[str]:
    """Publish CloudEvents (binary mode); returns their ids."""
    producer = create_producer(bootstrap, "test-publisher")
    await producer.start()
    ids = []
    try:
        for event_id, data in events:
            event = CloudEvent(
                id=event_id,
                source="/tests",
                type="com.intplat.test.v1",
                time=datetime.now(UTC),
                data=data,
            )
            await producer.send_and_wait(
                topic,
                value=json.dumps(data).encode(),
                key=key.encode(),
                headers=to_kafka_headers(event),
            )
            ids.append(event_id)
    finally:
        await producer.stop()
    return ids


async def enqueue_one(pool: asyncpg.Pool, topic: str) -> None:
    """One event in the outbox, with the current trace context."""
    event = CloudEvent(id="evt_trace", source="/tests", type="com.intplat.test.v1", time=datetime.now(UTC))
    headers = {k: v.decode() for k, v in to_kafka_headers(event)}
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, [OutboxMessage(topic=topic, key="cus_1", type="test", payload={"a": 1}, headers=headers)])


async def relay_and_consume_one(bootstrap: str, pool: asyncpg.Pool, topic: str, group: str) -> list[int]:
    """The outbox's one row published by the relay and handled by a consumer; returns the trace ids the handler
    ran in."""
    await new_topics(bootstrap, topic, dlq_topic(group))
    relay = OutboxRelay(pool, lambda: create_producer(bootstrap, "relay-trace"))
    assert await relay.publish_batch() == 1
    await relay.close()

    handled = asyncio.Event()
    seen_trace: list[int] = []

    async def handler(conn: asyncpg.Connection, consumed: ConsumedEvent) -> None:
        seen_trace.append(trace.get_current_span().get_span_context().trace_id)
        handled.set()

    runner = ConsumerRunner(group=group, topics=[topic], handler=handler, pool=pool, bootstrap_servers=bootstrap)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(handled.wait(), 30)
    finally:
        await runner.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return seen_trace
