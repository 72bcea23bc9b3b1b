"""Outbox relay: publish throughput from a backlog, and commit → Kafka-ack latency at a steady insert rate."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from intplat_common import OutboxMessage, OutboxRelay, TopicConfig, create_pool, create_producer, enqueue, ensure_topics
from intplat_common import migrate as run_migrations

from ._infra import append_latencies_ms, fresh_database, infrastructure
from ._report import percentile, write

MIGRATIONS = Path(__file__).resolve().parents[1] / "libs" / "common" / "tests" / "migrations"
BACKLOG = 20_000
STEADY_RATE = 1_000  # rows per second
STEADY_SECONDS = 10


async def main() -> None:
    async with infrastructure() as (kafka, postgres):
        dsn = await fresh_database(postgres)
        await run_migrations(dsn, MIGRATIONS)
        pool = await create_pool(dsn, max_size=8)
        topic = "bench.outbox"
        # The broker stamps each record when it appends it: the Kafka side of the commit → record latency.
        topic_config = TopicConfig(topic, 6, {"message.timestamp.type": "LogAppendTime"})
        await ensure_topics(kafka.bootstrap_servers, [topic_config], replication_factor=1)
        relay = OutboxRelay(pool, lambda: create_producer(kafka.bootstrap_servers, "bench-relay"), batch_size=500)

        # 1. Backlog: rows committed first, then drained.
        for start in range(0, BACKLOG, 1000):
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, [_message(topic, i) for i in range(start, start + 1000)])
        began = time.perf_counter()
        while await relay.publish_batch():
            pass
        drain_seconds = time.perf_counter() - began

        # 2. Steady rate: one row per transaction, latency from its commit to the broker appending its record.
        runner = asyncio.create_task(relay.run())
        committed: dict[str, float] = {}
        interval = 1 / STEADY_RATE
        began = time.perf_counter()
        for i in range(STEADY_RATE * STEADY_SECONDS):
            async with pool.acquire() as conn, conn.transaction():
                msg = _message(topic, BACKLOG + i)
                await enqueue(conn, [msg])
            committed[str(msg.id)] = time.time()
            delay = began + (i + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        offered_seconds = time.perf_counter() - began
        while await pool.fetchval("SELECT count(*) FROM outbox"):
            await asyncio.sleep(0.1)
        latencies = await append_latencies_ms(kafka.bootstrap_servers, topic, "outbox_id", committed)
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await relay.close()
        await pool.close()

    write(
        "outbox_relay",
        {
            "backlog_rows": BACKLOG,
            "backlog_drain_rows_per_s": round(BACKLOG / drain_seconds),
            "steady_offered_rows_per_s": round(STEADY_RATE * STEADY_SECONDS / offered_seconds),
            "commit_to_record_matched": f"{len(latencies)}/{len(committed)}",
            "commit_to_record_ms_p50": round(percentile(latencies, 50), 1),
            "commit_to_record_ms_p99": round(percentile(latencies, 99), 1),
            "commit_to_record_ms_max": round(max(latencies), 1),
        },
        "One relay, batches of 500, acks=all + idempotence, 6 partitions, single local broker; "
        "PostgreSQL with default durability (fsync on). commit -> record: the broker's LogAppendTime of the record "
        "minus the time the enqueuing transaction's commit returned.",
    )


def _message(topic: str, n: int) -> OutboxMessage:
    return OutboxMessage(
        topic=topic,
        key=f"cus_{n % 97}",
        type="bench.event",
        payload={"n": n, "object": {"id": f"in_{n}", "amount_paid": 4200, "currency": "eur"}},
    )
