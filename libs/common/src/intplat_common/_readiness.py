"""Readiness probes for the two shared dependencies."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiokafka.client import AIOKafkaClient


def postgres_check(pool: asyncpg.Pool) -> Any:
    async def check() -> None:
        async with pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    return check


class KafkaProbe:
    """A long-lived metadata client: a readiness check is one metadata request, not a new connection."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
        self._started = False

    async def check(self) -> None:
        if not self._started:
            await self._client.bootstrap()
            self._started = True
        await self._client.fetch_all_metadata()

    async def close(self) -> None:
        await self._client.close()
