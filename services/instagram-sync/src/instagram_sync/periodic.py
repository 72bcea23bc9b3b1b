"""A worker that does one round of work every few seconds (the scheduler, the token upkeep)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from intplat_common import DATABASE_GONE, finish_task

log = logging.getLogger(__name__)


class Periodic:
    """`run()` calls `round()` every `interval` seconds until `stop(task)`; a failed round is logged and the next
    one comes on time (its work is durable in PostgreSQL, so nothing is lost by waiting)."""

    def __init__(self, name: str, round: Callable[[], Awaitable[object]], interval: float) -> None:
        self.name = name
        self._round = round
        self._interval = interval
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._round()
            except DATABASE_GONE as exc:  # a restart or failover: expected, no traceback
                log.warning("%s round failed: database unavailable", self.name, extra={"fields": {"error": repr(exc)}})
            except Exception:
                log.exception("%s round failed", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def stop(self, task: asyncio.Task[None]) -> None:
        self._stopping.set()
        await finish_task(task, grace=10.0)
