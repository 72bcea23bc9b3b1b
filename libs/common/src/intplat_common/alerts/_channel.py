"""The ops alert channel: short messages to a Slack-compatible chat webhook (`{"text": ...}`).

Every service sends its alerts here (the notifier: dead letters and a Postmark breaker open too long; the
lexoffice-bridge: manual bookings, dead rows and failed pushes). At most one alert per kind per
OPS_ALERT_MIN_INTERVAL_SECONDS, per process: an outage must page once, not once per document. Without
OPS_ALERT_WEBHOOK_URL alerts are only logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import Field

from .._breaker import AsyncCircuitBreaker, CircuitOpenError
from .._http import ProviderConfig, ProviderError, ResilientClient
from .._settings import ServiceSettings
from ..consumer import ConsumedEvent

log = logging.getLogger(__name__)


class OpsAlertSettings(ServiceSettings):
    """ServiceSettings plus the ops alert channel."""

    # A Slack-compatible incoming webhook; unset: alerts are only logged.
    ops_alert_webhook_url: str | None = Field(default=None, validation_alias="OPS_ALERT_WEBHOOK_URL")
    ops_alert_min_interval_seconds: float = Field(
        default=600.0, ge=0, validation_alias="OPS_ALERT_MIN_INTERVAL_SECONDS"
    )


class OpsAlerts:
    def __init__(
        self,
        webhook_url: str | None,
        *,
        min_interval_seconds: float = 600.0,
        service: str,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = webhook_url
        self._min_interval = min_interval_seconds
        self._service = service
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self.http: ResilientClient | None = None
        self._path = ""
        if webhook_url:
            # The client's base URL is the origin: httpx would append "/" to a full URL used as base.
            url = httpx.URL(webhook_url)
            origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
            self._path = url.raw_path.decode("ascii")
            self.http = ResilientClient(
                ProviderConfig(name="ops-alerts", base_url=origin, timeout=5.0, max_attempts=2), transport=transport
            )

    @classmethod
    def from_settings(cls, settings: OpsAlertSettings) -> OpsAlerts:
        return cls(
            settings.ops_alert_webhook_url,
            min_interval_seconds=settings.ops_alert_min_interval_seconds,
            service=settings.service_name,
        )

    async def alert(self, kind: str, text: str) -> bool:
        """Post one alert unless one of the same kind went out within the interval. True when posted."""
        async with self._lock:
            now = self._clock()
            last = self._last.get(kind)
            if last is not None and now - last < self._min_interval:
                log.info("alert rate limited", extra={"fields": {"kind": kind, "text": text[:500]}})
                return False
            message = f"[{self._service}] {text}"[:3000]
            log.error("ops alert", extra={"fields": {"kind": kind, "text": message}})
            if self.http is None:
                self._last[kind] = now
                return False
            try:
                # A repeated alert is harmless, so a POST may be retried.
                response = await self.http.request("POST", self._path, json={"text": message}, idempotent=True)
            except (CircuitOpenError, ProviderError) as exc:
                log.warning("ops alert not delivered", extra={"fields": {"kind": kind, "error": str(exc)}})
                return False
            if response.status_code >= 400:
                log.warning("ops alert refused", extra={"fields": {"kind": kind, "status": response.status_code}})
                return False
            self._last[kind] = now
            return True

    async def on_dead_letter(self, record: ConsumedEvent | Any, reason: str) -> None:
        """`ConsumerRunner.on_dead_letter` hook."""
        topic = getattr(record, "topic", "?")
        offset = getattr(record, "offset", "?")
        event = getattr(record, "event", None)
        event_id = f" event {event.id}" if event is not None else ""
        await self.alert(
            "dead_letter", f"consumer dead-lettered a record from {topic} (offset {offset}){event_id}: {reason[:500]}"
        )

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()


class BreakerWatch:
    """Alerts when a breaker has not closed for `threshold` seconds (open and half-open trials failing)."""

    def __init__(
        self,
        breaker: AsyncCircuitBreaker,
        alerts: OpsAlerts,
        *,
        threshold_seconds: float,
        interval_seconds: float = 5.0,
        meanwhile: str = "work is queued, not lost",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._breaker = breaker
        self._alerts = alerts
        self._threshold = threshold_seconds
        self._interval = interval_seconds
        self._clock = clock
        self._meanwhile = meanwhile
        self.open_since: float | None = None
        breaker.listeners.append(self._state_changed)
        if breaker.state != "closed":
            self.open_since = clock()

    def _state_changed(self, _name: str, _old: str, new: str) -> None:
        if new == "closed":
            self.open_since = None
        elif self.open_since is None:
            self.open_since = self._clock()

    async def check(self) -> bool:
        """One look: alert when the breaker has been open too long. True when an alert went out."""
        if self.open_since is None:
            return False
        # pybreaker only leaves `open` when a call is attempted; a breaker nobody calls stays open, which is right here.
        open_for = self._clock() - self.open_since
        if open_for < self._threshold:
            return False
        return await self._alerts.alert(
            f"breaker_open:{self._breaker.name}",
            f"{self._breaker.name} circuit breaker open for {open_for:.0f} s; {self._meanwhile}",
        )

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.check()
            await asyncio.sleep(self._interval)

    async def stop(self, task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.close()

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._breaker.listeners.remove(self._state_changed)
