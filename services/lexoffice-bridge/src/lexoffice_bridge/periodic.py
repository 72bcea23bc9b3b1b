"""A worker that runs one round at start and then every `interval` seconds (or when woken) until it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from intplat_common import finish_task

log = logging.getLogger(__name__)


class PeriodicWorker(ABC):
    """Subclasses implement `run_once`. A round that fails is logged and tried again after `retry_seconds`."""

    name = "periodic"

    def __init__(self, *, interval: float, retry_seconds: float) -> None:
        self._interval = interval
        self._retry_seconds = min(retry_seconds, interval)
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()

    @abstractmethod
    async def run_once(self) -> int:
        """One round; returns how much it did (for logs and tests)."""

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            wait = self._interval
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("worker round failed", extra={"fields": {"worker": self.name, "error": repr(exc)}})
                wait = self._retry_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), wait)

    async def stop(self, task: asyncio.Task[None], grace: float = 10.0) -> None:
        """The round in progress finishes (or is cancelled after `grace`), then the loop ends."""
        self._stopping.set()
        self._wakeup.set()
        await finish_task(task, grace)
