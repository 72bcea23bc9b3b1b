"""The `scheduler` worker on faust-streaming: a leader-only timer (one scheduler process of all replicas ticks, faust
elects it through its Kafka consumer group) that claims due slots and records their sync requests.

The schedule itself lives in PostgreSQL (schedule.py) and the requests leave through the outbox, not faust's
producer: a slot must move forward in the same transaction that records its event, which only the database can give.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import faust

from intplat_common import finish_task

from .clock import Clock, utc_now
from .schedule import emit_due

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        bootstrap_servers: str,
        app_id: str,
        interval: float,
        replication_factor: int = 1,
        clock: Clock = utc_now,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._stopping = asyncio.Event()
        self.emitted = 0
        self.app = faust.App(
            app_id,
            broker=",".join(f"kafka://{server}" for server in bootstrap_servers.split(",")),
            store="memory://",  # no tables: the schedule's state is in PostgreSQL
            web_enabled=False,
            topic_replication_factor=replication_factor,
            topic_partitions=1,
            autodiscover=False,
        )
        self.app.timer(interval, on_leader=True)(self.tick)

    async def tick(self) -> None:
        try:
            self.emitted += await emit_due(self._pool, self._clock())
        except Exception:
            # The slot stays due (nothing committed): the next tick claims it.
            log.exception("scheduler round failed")

    async def run(self) -> None:
        self.app.finalize()
        await self.app.start()
        try:
            await self._stopping.wait()
        finally:
            await self.app.stop()

    async def stop(self, task: asyncio.Task[None]) -> None:
        self._stopping.set()
        await finish_task(task, grace=30.0)
