"""Kafka producer factory and explicit topic creation.

aiokafka's defaults are unsafe for money events (acks=1, idempotence off): every producer here is built by
`create_producer`, which sets both explicitly; tests assert them on the live client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

PRODUCER_SAFETY: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
}


def producer_config(bootstrap_servers: str, client_id: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "client_id": client_id,
        "linger_ms": 5,
        "request_timeout_ms": 15_000,
        "compression_type": None,
    }
    config.update(overrides)
    config.update(PRODUCER_SAFETY)  # last: callers cannot weaken durability by accident
    return config


def create_producer(bootstrap_servers: str, client_id: str, **overrides: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(**producer_config(bootstrap_servers, client_id, **overrides))


@dataclass(frozen=True)
class TopicConfig:
    name: str
    partitions: int
    configs: dict[str, str] | None = None


async def ensure_topics(bootstrap_servers: str, topics: Iterable[TopicConfig], *, replication_factor: int) -> list[str]:
    """Create missing topics (never relying on broker auto-create). Returns the names created."""
    min_isr = str(min(2, replication_factor))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name=t.name,
                num_partitions=t.partitions,
                replication_factor=replication_factor,
                topic_configs={"min.insync.replicas": min_isr, **(t.configs or {})},
            )
            for t in topics
            if t.name not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process")
        return [t.name for t in new]
    finally:
        await admin.close()
