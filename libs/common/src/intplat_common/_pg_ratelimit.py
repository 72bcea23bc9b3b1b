"""A token bucket in PostgreSQL: one rate limit shared by every process and replica that uses the same bucket name.

One row per bucket. `acquire()` takes a token in one atomic UPDATE that refills the bucket from the time elapsed
since the last take (the database's clock, the same for every process) and may leave it negative: a negative balance
is a reservation, and the caller sleeps exactly until its token is due. Waiters are therefore served in the order their
UPDATE ran, across processes, with one round trip per call and no polling.
"""

from __future__ import annotations

import asyncio

import asyncpg

from ._sql import check_identifier


def token_bucket_table_ddl(table: str = "rate_limit_buckets") -> tuple[str, ...]:
    """Statements for a migration: the table `PgTokenBucket` keeps its buckets in."""
    check_identifier(table)
    return (
        f"""
        CREATE TABLE {table} (
            name       text             PRIMARY KEY,
            tokens     double precision NOT NULL,
            updated_at timestamptz      NOT NULL
        )
        """,
    )


class PgTokenBucket:
    """At most `rate` acquisitions per second on average over every holder of bucket `name`, bursts up to `burst`.

    Every process must use the same `rate` and `burst` for one bucket (they come from the same settings).
    """

    def __init__(
        self, pool: asyncpg.Pool, name: str, *, rate: float, burst: int = 1, table: str = "rate_limit_buckets"
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        check_identifier(table)
        self._pool = pool
        self.name = name
        self.rate = rate
        self.burst = burst
        # A new bucket starts full. `clock_timestamp()`, not `now()`: the time of this statement, not of a transaction.
        self._create = (
            f"INSERT INTO {table} (name, tokens, updated_at) VALUES ($1, $2, clock_timestamp()) "  # noqa: S608 - checked identifier
            "ON CONFLICT (name) DO NOTHING"
        )
        self._take = f"""
            WITH clock AS (SELECT clock_timestamp() AS now)
            UPDATE {table} SET
                tokens = LEAST($3::double precision,
                               tokens + extract(epoch FROM clock.now - updated_at)::double precision * $2) - 1,
                updated_at = clock.now
            FROM clock
            WHERE name = $1
            RETURNING tokens
        """  # noqa: S608 - checked identifier
        self._created = False

    async def reserve(self) -> float:
        """Takes a token and returns the seconds until it is due (0: now). The token is spent even if the caller
        then does not wait for it."""
        if not self._created:
            await self._pool.execute(self._create, self.name, float(self.burst))
            self._created = True
        tokens = await self._pool.fetchval(self._take, self.name, self.rate, float(self.burst))
        if tokens is None:  # the row was deleted behind our back: recreate it full
            self._created = False
            return await self.reserve()
        return max(0.0, -float(tokens) / self.rate)

    async def acquire(self) -> None:
        """Returns when this caller's token is due."""
        wait = await self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
