"""The PostgreSQL token bucket: two pools (two processes) share one limit, never exceed it and nearly reach it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from intplat_common import PgTokenBucket, token_bucket_table_ddl

LIMIT = 20.0  # the provider's limit (req/s); the test is the 2 req/s case, ten times faster
PROVIDER_BURST = 2  # the provider's own bucket (Lexoffice: about 2)
PACE = LIMIT * 0.97  # what the service paces at: the limit minus its safety margin
SECONDS = 4.0


async def _pool(database: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database, min_size=1, max_size=4)
    assert pool is not None
    return pool


def _provider_rejections(times: list[float], *, rate: float, burst: int) -> int:
    """How many of these request times a provider's token bucket of `rate` and `burst` would refuse (429)."""
    tokens, last, refused = float(burst), times[0], 0
    for at in times:
        tokens = min(burst, tokens + (at - last) * rate)
        last = at
        if tokens >= 1:
            tokens -= 1
        else:
            refused += 1
    return refused


@pytest.fixture
async def pools(database: str) -> AsyncIterator[list[asyncpg.Pool]]:
    first, second = await _pool(database), await _pool(database)
    for statement in token_bucket_table_ddl():
        await first.execute(statement)
    yield [first, second]
    await first.close()
    await second.close()


async def test_two_processes_share_the_limit_and_reach_it(pools: list[asyncpg.Pool]) -> None:
    buckets = [PgTokenBucket(pool, "lexoffice:key-1", rate=PACE) for pool in pools]
    granted: list[float] = []
    deadline = time.monotonic() + SECONDS

    async def caller(bucket: PgTokenBucket) -> None:
        while time.monotonic() < deadline:
            await bucket.acquire()
            granted.append(time.monotonic())

    # Three callers per process, as three consumer tasks of two replicas would be.
    await asyncio.gather(*(caller(bucket) for bucket in buckets for _ in range(3)))
    granted.sort()
    span = granted[-1] - granted[0]

    assert _provider_rejections(granted, rate=LIMIT, burst=PROVIDER_BURST) == 0, "the provider would answer 429"
    assert (len(granted) - 1) / span <= LIMIT
    assert (len(granted) - 1) / span >= 0.95 * LIMIT, f"{len(granted)} grants in {span:.2f} s"


async def test_reserve_says_how_long_to_wait(pools: list[asyncpg.Pool]) -> None:
    first, second = (PgTokenBucket(pool, "b", rate=2.0, burst=2) for pool in pools)
    assert await first.reserve() == 0
    assert await second.reserve() == 0, "a new bucket starts full: the burst"
    assert await first.reserve() == pytest.approx(0.5, abs=0.05), "the third token is due in 1/rate"
    assert await second.reserve() == pytest.approx(1.0, abs=0.05), "and the fourth one after it, in any process"


async def test_buckets_are_independent(pools: list[asyncpg.Pool]) -> None:
    one, other = PgTokenBucket(pools[0], "key-a", rate=1.0), PgTokenBucket(pools[0], "key-b", rate=1.0)
    assert await one.reserve() == 0
    assert await other.reserve() == 0


def test_refuses_a_table_name_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="identifier"):
        token_bucket_table_ddl("buckets; DROP TABLE x")
