"""A consumer in its own process, for the kill -9 test: `python consumer_process.py BOOTSTRAP DSN TOPIC GROUP`.

Each record's effect is a row in applied_effects, written in the runner's transaction; the handler is slow on
purpose so the process can be killed in the middle of a batch.
"""

from __future__ import annotations

import asyncio
import sys

import asyncpg

from intplat_common import ConsumedEvent, ConsumerRunner, create_pool


async def main(bootstrap: str, dsn: str, topic: str, group: str) -> None:
    pool = await create_pool(dsn)

    async def handler(conn: asyncpg.Connection, event: ConsumedEvent) -> None:
        await conn.execute(
            "INSERT INTO applied_effects (event_id, consumer) VALUES ($1, $2)",
            event.event.id,
            group,
        )
        await asyncio.sleep(0.01)

    runner = ConsumerRunner(
        group=group,
        topics=[topic],
        handler=handler,
        pool=pool,
        bootstrap_servers=bootstrap,
        max_batch=50,
    )
    print("ready", flush=True)  # noqa: T201
    await runner.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
