"""Steady signed webhook load with Stripe's delivery behaviour: a delivery that gets no 2xx (an error status, a
timeout, a refused or reset connection) is sent again with the same event id after a growing delay, re-signed
as Stripe does, until it is acknowledged. The history keeps when each event was first acknowledged."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from intplat_devstack.samples import LATEST_API_VERSION, build_event
from intplat_devstack.testing import stripe_signature

from .platform import WEBHOOK_SECRET

TIMEOUT_SECONDS = 10.0  # Stripe waits a few seconds at most; longer here so a slow answer is not a lost one
FINISH_SECONDS = 60.0  # after the load stops, for deliveries still being retried
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # Stripe's are hours apart; the shape (growing, capped) is the same


def recipient(i: int) -> str:
    return f"chaos-{i:06d}@example.com"


def session_id(i: int) -> str:
    return f"cs_test_chaos_{i:06d}"


@dataclass
class History:
    sent: int = 0
    acked_at: dict[int, float] = field(default_factory=dict)  # event index -> monotonic time of its first 2xx
    failed_deliveries: list[float] = field(default_factory=list)  # when a delivery got no 2xx

    def acked_between(self, start: float, end: float) -> list[int]:
        return [i for i, at in self.acked_at.items() if start <= at < end]


class WebhookLoad:
    def __init__(self, gateway_url: str, session: dict[str, Any], rate: float) -> None:
        self._url = f"{gateway_url}/webhooks/stripe"
        self._session = session
        self._rate = rate
        self.history = History()
        self._stopping = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()

    def _webhook(self, i: int) -> bytes:
        session = self._session | {"id": session_id(i), "invoice": None}
        session["customer_details"] = session["customer_details"] | {"email": recipient(i)}
        event = build_event(
            "checkout.session.completed", session, api_version=LATEST_API_VERSION, event_id=f"evt_chaos_{i:06d}"
        )
        return json.dumps(event).encode()

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, limits=limits) as http:
            started = time.monotonic()
            while not self._stopping.is_set():
                due = int((time.monotonic() - started) * self._rate)
                while self.history.sent < due:
                    task = asyncio.create_task(self._deliver(http, self.history.sent))
                    self._deliveries.add(task)
                    task.add_done_callback(self._deliveries.discard)
                    self.history.sent += 1
                await asyncio.sleep(0.02)
            # Stripe would go on for days; a delivery still without its 2xx by then simply was not acknowledged.
            if self._deliveries:
                await asyncio.wait(self._deliveries, timeout=FINISH_SECONDS)
            for delivery in self._deliveries:
                delivery.cancel()

    async def _deliver(self, http: httpx.AsyncClient, i: int) -> None:
        body = self._webhook(i)
        for attempt in range(1000):
            try:
                headers = {"Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET)}
                response = await http.post(self._url, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    self.history.acked_at[i] = time.monotonic()
                    return
            except httpx.TransportError:
                pass
            self.history.failed_deliveries.append(time.monotonic())
            await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])

    def stop(self) -> None:
        self._stopping.set()

    @property
    def unacked(self) -> int:
        return self.history.sent - len(self.history.acked_at)
