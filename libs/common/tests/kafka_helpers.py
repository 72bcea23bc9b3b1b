"""Small helpers the library tests share: topics and publishing CloudEvents (reading back: intplat_devstack.testing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from intplat_common import TopicConfig, create_producer, ensure_topics
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
