"""Keeps a consumer running across broker outages and fatal consumer errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from .._tasks import finish_task
from ._runner import ConsumerRunner

log = logging.getLogger(__name__)


class ConsumerSupervisor:
    """Keeps one ConsumerRunner running: a broker that is down at start-up or a fatal consumer error means a fresh
    runner after a pause, not a dead service. Offsets were committed only after the inbox transactions, so a restart
    re-reads at most the uncommitted records, which the inbox skips."""

    def __init__(self, factory: Callable[[], ConsumerRunner]) -> None:
        self._factory = factory
        self.runner: ConsumerRunner | None = None
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            self.runner = self._factory()
            try:
                await self.runner.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer failed; restarting", extra={"fields": {"error": repr(exc)}})
                with contextlib.suppress(Exception):
                    await self.runner.stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 30.0)
            else:
                backoff = 1.0

    async def stop(self, task: asyncio.Task[None]) -> None:
        self._stopping.set()
        if self.runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.runner.stop(), 30)
        await finish_task(task, 10)
