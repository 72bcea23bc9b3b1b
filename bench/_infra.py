"""Kafka and PostgreSQL for a benchmark run (same resolution as the tests: environment, Docker, local processes)."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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
