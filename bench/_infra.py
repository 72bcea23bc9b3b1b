"""Kafka and PostgreSQL for a benchmark run (same resolution as the tests: environment, Docker, local processes),
and reading back when the broker appended what a run sent."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from intplat_devstack.infra import KafkaServer, PostgresServer, start_kafka, start_postgres
from intplat_devstack.postgres import create_database


@asynccontextmanager
async def infrastructure() -> AsyncIterator[tuple[KafkaServer, PostgresServer]]:
    workdir = Path(tempfile.mkdtemp(prefix="intplat-bench-"))
    kafka, postgres = await asyncio.gather(
        asyncio.to_thread(start_kafka, workdir / "kafka"), asyncio.to_thread(start_postgres, workdir / "postgres")
    )
    try:
        yield kafka, postgres
    finally:
        kafka.close()
        postgres.close()


async def fresh_database(postgres: PostgresServer) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    await create_database(postgres.dsn("postgres"), name)
    dsn: str = postgres.dsn(name)
    return dsn


async def append_latencies_ms(bootstrap: str, topic: str, header: str, sent_at: dict[str, float]) -> list[float]:
    """For each record of `topic` whose `header` is a key of `sent_at`: the broker's LogAppendTime minus that time
    (Unix seconds), in milliseconds. Reads from the start for up to 60 s, until every key was matched."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    latencies: list[float] = []
    deadline = time.monotonic() + 60
    try:
        while len(latencies) < len(sent_at) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    key = dict(record.headers or ()).get(header, b"").decode()
                    if key in sent_at:
                        latencies.append((record.timestamp / 1000 - sent_at[key]) * 1000)
    finally:
        await consumer.stop()
    return latencies
