"""What a sandbox does in the background while it is served: sending its provider's webhooks or callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class PeriodicFlush:
    """Calls `flush` every `interval` seconds while started; a failed flush is logged and the next one comes."""

    def __init__(self, name: str, flush: Callable[[], Awaitable[object]], interval: float) -> None:
        self._name = name
        self._flush = flush
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self._flush()
            except Exception:
                log.exception("sandbox background flush failed", extra={"fields": {"task": self._name}})
            await asyncio.sleep(self._interval)


def lifespan_of(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """An ASGI lifespan that starts a sandbox's background work while it is served."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await start()
        try:
            yield
        finally:
            await stop()

    return lifespan
