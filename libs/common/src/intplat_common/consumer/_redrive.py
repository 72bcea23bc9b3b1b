"""Re-driving a dead-letter topic: once the cause is fixed, the records a group gave up on go back to their topic.

For each record of `<group>.dlq` present when the run starts: its inbox row marked `dead_lettered` is deleted (or the
group would skip the record as already seen), then the record is published again to its original topic with its
original key, value and headers (the `dlq_*` ones dropped). The DLQ offsets are committed (consumer group
`<group>.redrive`) only after every re-published record was acknowledged, so a run that stops half-way re-drives the
rest next time, and a record is never lost: at worst one is re-published twice, which the group's inbox absorbs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from .._kafka import create_producer
from ..events._registry import dlq_topic
from ._dlq import without_dlq_headers
from ._dlq_depth import redrive_group

_DELETE_DEAD_LETTERED = (
    "DELETE FROM inbox WHERE consumer = $1 AND source = $2 AND event_id = $3 AND outcome = 'dead_lettered'"
)


@dataclass
class RedriveReport:
    group: str
    redriven: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False


async def redrive_dead_letters(
    *, group: str, bootstrap_servers: str, pool: asyncpg.Pool, limit: int | None = None, dry_run: bool = False
) -> RedriveReport:
    """Re-publish up to `limit` records of `<group>.dlq` (all present at the start when None); `dry_run` only lists
    them (nothing deleted, published or committed)."""
    report = RedriveReport(group=group, dry_run=dry_run)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=redrive_group(group),
        client_id=f"{group}-redrive",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = create_producer(bootstrap_servers, f"{group}-redrive")
    await consumer.start()
    await producer.start()
    try:
        partitions = await producer.partitions_for(dlq_topic(group))
        records = await _read_present(
            consumer, [TopicPartition(dlq_topic(group), p) for p in sorted(partitions)], limit
        )
        report.records = [_describe(record) for record in records]
        if dry_run or not records:
            return report
        for record in records:
            topic = _header(record, "dlq_original_topic")
            if topic is None:
                raise ValueError(f"DLQ record at offset {record.offset} names no original topic")
            # The inbox row first: the group must not skip the record it is about to see again.
            source, event_id = _header(record, "ce_source"), _header(record, "ce_id")
            if source is not None and event_id is not None:
                await pool.execute(_DELETE_DEAD_LETTERED, group, source, event_id)
            headers = without_dlq_headers(record.headers)
            await producer.send_and_wait(topic, value=record.value, key=record.key, headers=headers)
            report.redriven += 1
            report.by_topic[topic] = report.by_topic.get(topic, 0) + 1
        # In offset order per partition: the last record of each partition sets its committed offset.
        done = {TopicPartition(r.topic, r.partition): r.offset + 1 for r in records}
        await consumer.commit(done)
        return report
    finally:
        await producer.stop()
        await consumer.stop()


async def _read_present(
    consumer: AIOKafkaConsumer, assigned: list[TopicPartition], limit: int | None
) -> list[ConsumerRecord[Any, Any]]:
    """The records up to the end offsets as they were when reading began (later dead letters wait for a next run)."""
    consumer.assign(assigned)
    ends = await consumer.end_offsets(assigned)
    records: list[ConsumerRecord[Any, Any]] = []
    while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
        batches = await consumer.getmany(timeout_ms=1000)
        for tp, batch in batches.items():
            records += [r for r in batch if r.offset < ends[tp]]
        if limit is not None and len(records) >= limit:
            return sorted(records, key=lambda r: (r.partition, r.offset))[:limit]
    return sorted(records, key=lambda r: (r.partition, r.offset))


def _header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode("utf-8", "replace")
    return None


def _describe(record: ConsumerRecord[Any, Any]) -> dict[str, Any]:
    return {
        "dlq_offset": f"{record.partition}:{record.offset}",
        "event_id": _header(record, "ce_id"),
        "original_topic": _header(record, "dlq_original_topic"),
        "reason": _header(record, "dlq_reason"),
        "failed_at": _header(record, "dlq_failed_at"),
    }
