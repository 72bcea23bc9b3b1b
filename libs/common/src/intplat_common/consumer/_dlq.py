"""The dead-letter topic `<group>.dlq`: the record as it was read, with why and where it failed in headers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from ..events._registry import dlq_topic

log = logging.getLogger(__name__)

DLQ_HEADER_PREFIX = "dlq_"
MAX_REASON_CHARS = 2000


def without_dlq_headers(headers: Any) -> list[tuple[str, bytes]]:
    """A record's headers without those a dead-lettering added."""
    return [h for h in (headers or ()) if not h[0].startswith(DLQ_HEADER_PREFIX)]


def dead_letter_headers(
    record: ConsumerRecord[Any, Any], group: str, reason: str, attempts: int
) -> list[tuple[str, bytes]]:
    """The original headers (minus those of an earlier dead-lettering) plus the `dlq_*` ones."""
    headers = without_dlq_headers(record.headers)
    headers += [
        ("dlq_reason", reason[:MAX_REASON_CHARS].encode()),
        ("dlq_attempts", str(attempts).encode()),
        ("dlq_consumer_group", group.encode()),
        ("dlq_original_topic", record.topic.encode()),
        ("dlq_original_partition", str(record.partition).encode()),
        ("dlq_original_offset", str(record.offset).encode()),
        ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
    ]
    return headers


async def publish_dead_letter(
    producer: AIOKafkaProducer, record: ConsumerRecord[Any, Any], group: str, reason: str, attempts: int
) -> None:
    """Publishes until the broker acknowledges: the caller must never commit past a record the DLQ has not
    acknowledged, that would lose it."""
    headers = dead_letter_headers(record, group, reason, attempts)
    backoff = 0.2
    while True:
        try:
            await producer.send_and_wait(dlq_topic(group), value=record.value, key=record.key, headers=headers)
            return
        except KafkaError as exc:
            log.warning("DLQ publish failed; retrying", extra={"fields": {"error": repr(exc)}})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
