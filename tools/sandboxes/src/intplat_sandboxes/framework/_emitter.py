"""Webhooks a sandbox sends by itself: each delivery is attempted when it is due on the sandbox clock and retried on
its provider's schedule, in the background while the sandbox is served (or on `flush`, from a test)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Generic, Literal, Protocol, TypeVar

import httpx

from ._background import PeriodicFlush
from ._clock import SandboxClock

DeliveryState = Literal["pending", "delivered", "dropped", "failed"]
"""`failed`: the retries ran out; `dropped`: an answer the provider does not retry."""


class ScheduledDelivery(Protocol):
    state: DeliveryState
    next_attempt_at: datetime | None


D = TypeVar("D", bound=ScheduledDelivery)


class ScheduledEmitter(ABC, Generic[D]):
    """The queue of deliveries and the flush that works it off; a provider's emitter says how one attempt goes
    (`_attempt`: send, record, set the next state and due time) and with which HTTP client (`_client`)."""

    def __init__(self, name: str, clock: SandboxClock, poll_interval: float) -> None:
        self._clock = clock
        self._deliveries: list[D] = []
        self._lock = asyncio.Lock()
        self._background = PeriodicFlush(name, self.flush, poll_interval)

    @property
    def deliveries(self) -> list[D]:
        return list(self._deliveries)

    def clear(self) -> None:
        self._deliveries.clear()

    def _due(self) -> list[D]:
        now = self._clock.now()
        return [d for d in self._deliveries if d.state == "pending" and d.next_attempt_at and d.next_attempt_at <= now]

    async def flush(self) -> int:
        """Attempt every delivery due on the sandbox clock, until none is (a retry can fall due at once on a frozen
        clock); returns the number of attempts."""
        async with self._lock:
            if not self._due():
                return 0
            attempts = 0
            async with self._client() as client:
                while due := self._due():
                    for delivery in due:
                        await self._attempt(client, delivery)
                        attempts += 1
            return attempts

    @abstractmethod
    def _client(self) -> httpx.AsyncClient: ...

    @abstractmethod
    async def _attempt(self, client: httpx.AsyncClient, delivery: D) -> None: ...

    def start(self) -> None:
        self._background.start()

    async def stop(self) -> None:
        await self._background.stop()
