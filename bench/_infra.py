"""Kafka and PostgreSQL for a benchmark run (same resolution as the tests: environment, Docker, local processes),
and reading back when the broker appended what a run sent."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from intplat_devstack.infra import KafkaServer, PostgresServer, start_kafka, start_postgres
from intplat_devstack.postgres import create_database
from intplat_devstack.testing import header, header_in, read_records

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
