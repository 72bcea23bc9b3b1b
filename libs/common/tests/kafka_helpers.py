"""Small helpers the library tests share: topics, reading a topic back, publishing CloudEvents."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from intplat_common import TopicConfig, create_producer, ensure_topics
from intplat_common.events import CloudEvent, to_kafka_headers


async def new_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    await ensure_topics(bootstrap, [TopicConfig(n, partitions) for n in names], replication_factor=1)


def topic_name(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


async def read_all(
    bootstrap: str, topic: str, *, expect: int, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic from the beginning until `expect` records arrived, then a short quiet period for extras."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(records) < expect and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for recs in batch.values():
                records.extend(recs)
        quiet_until = loop.time() + 1.0
        while loop.time() < quiet_until:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
    finally:
        await consumer.stop()
    return records


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
