"""Kafka and PostgreSQL for a benchmark run (same resolution as the tests: environment, Docker, local processes),
and reading back when the broker appended what a run sent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError
from intplat_devstack.infra import KafkaServer, PostgresServer, start_kafka, start_postgres
from intplat_devstack.postgres import create_database
from intplat_devstack.testing import header, header_in, read_records

from intplat_common import TopicConfig, create_producer, ensure_topics
from intplat_common.events import TOPICS, EventModel, to_cloud_event, to_kafka_headers

ROOT = Path(__file__).resolve().parents[1]


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


async def create_topics(kafka: KafkaServer, *consumer_groups: str) -> None:
    """Every event topic and the groups' dead-letter topics, before anything is published (a topic the producer
    auto-creates would get the broker's default partitions)."""
    topics = [TopicConfig(t.name, t.partitions) for t in TOPICS.values()]
    topics += [TopicConfig(f"{group}.dlq", 1) for group in consumer_groups]
    await ensure_topics(kafka.bootstrap_servers, topics, replication_factor=1)


async def publish(bootstrap: str, events: Iterable[tuple[str, EventModel]], *, client_id: str) -> None:
    """Each (CloudEvents id, event) to its topic as the gateway publishes it; returns when the broker has them all."""
    producer = create_producer(bootstrap, client_id)
    await producer.start()
    try:
        futures = []
        for event_id, payload in events:
            cloud = to_cloud_event(payload, id=event_id, source="/stripe-gateway", time=datetime.now(UTC))
            futures.append(
                await producer.send(
                    payload.TOPIC,
                    value=payload.model_dump_json().encode(),
                    key=payload.partition_key().encode(),
                    headers=to_kafka_headers(cloud),
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def wait_for_group(
    bootstrap: str, group: str, limit_seconds: float = 120.0, members: int = 1
) -> dict[str, list[TopicPartition]]:
    """Until consumer group `group` is stable with `members` members: consumers started as processes have their
    partitions. Returns each member's assignment (by member id)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(KafkaError):  # e.g. no coordinator yet: the group is still forming
                [response] = await admin.describe_consumer_groups([group])
                # (error_code, group_id, state, protocol_type, protocol, members, ...)
                described = response.groups[0]
                if described[2] == "Stable" and len(described[5]) >= members:
                    # (member_id, client_id, client_host, member_metadata, member_assignment)
                    return {m[0]: ConsumerProtocolMemberAssignment.decode(m[4]).partitions() for m in described[5]}
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    raise TimeoutError(f"consumer group {group} has no stable member after {limit_seconds:.0f} s")


async def fresh_database(postgres: PostgresServer) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    await create_database(postgres.dsn("postgres"), name)
    dsn: str = postgres.dsn(name)
    return dsn


async def append_latencies_ms(bootstrap: str, topic: str, header_name: str, sent_at: dict[str, float]) -> list[float]:
    """For each record of `topic` whose `header_name` is a key of `sent_at`: the broker's LogAppendTime minus that
    time (Unix seconds), in milliseconds. Reads from the start for up to 60 s, until every key was matched."""
    records = await read_records(
        bootstrap, topic, expect=len(sent_at), timeout=60, quiet=0, where=header_in(header_name, sent_at)
    )
    return [(record.timestamp / 1000 - sent_at[header(record, header_name) or ""]) * 1000 for record in records]


def start_process(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A service or sandbox command as its own process, from the repository root, with `env` over ours."""
    return subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT)


async def wait_ready(url: str) -> None:
    """Until `url` answers 200 (a service's /readyz), for up to a minute."""
    async with httpx.AsyncClient() as client:
        for _ in range(120):
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError(f"{url} never became ready")


def cpu_seconds_of_tree(pid: int) -> float:
    """User + system CPU of a process and its live descendants (Linux /proc), e.g. uvicorn's workers."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(FileNotFoundError):  # a descendant that has just exited
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
    return total
