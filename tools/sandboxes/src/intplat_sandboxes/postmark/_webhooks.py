"""Webhook emitter: POSTs event payloads with Postmark's retry policy, timed by the sandbox clock.

Retried: 5xx, 408, 429, timeouts and connection errors, up to 6 retries at +1, 5, 10, 10, 10 and
15 minutes. Dropped: any other non-2xx. Every attempt of one event carries the same
`X-PM-Webhook-Trace-Id` and a decreasing `X-PM-Retries-Remaining`. No signature: the receiver is
authenticated with Basic auth (explicit or `user:pass@` in the URL) and/or custom headers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from intplat_sandboxes.framework import DeliveryState, SandboxClock, ScheduledEmitter

RETRY_DELAYS_SECONDS: tuple[float, ...] = (60, 300, 600, 600, 600, 900)
RETRYABLE_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class WebhookAttempt:
    at: datetime
    retries_remaining: int
    status_code: int | None = None
    error: str | None = None


@dataclass
class WebhookDelivery:
    """One event and every attempt to deliver it. `failed` means the retries ran out."""

    trace_id: str
    record_type: str
    payload: dict[str, Any]
    created_at: datetime
    next_attempt_at: datetime | None
    state: DeliveryState = "pending"
    attempts: list[WebhookAttempt] = field(default_factory=list)


def _retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_STATUSES


class WebhookEmitter(ScheduledEmitter[WebhookDelivery]):
    def __init__(
        self,
        clock: SandboxClock,
        *,
        url: str | None,
        basic_auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS,
        poll_interval: float = 0.05,
    ) -> None:
        super().__init__("postmark-sandbox-webhooks", clock, poll_interval)
        self.url = url
        self.basic_auth = basic_auth
        self.headers = dict(headers or {})
        self._auth = httpx.BasicAuth(*basic_auth) if basic_auth else None
        self._timeout = timeout
        self._retry_delays = tuple(retry_delays)

    def enqueue(self, payload: dict[str, Any], *, due: datetime | None = None) -> WebhookDelivery:
        """Queue an event; without a webhook URL it is recorded but never sent (state `dropped`)."""
        now = self._clock.now()
        delivery = WebhookDelivery(
            trace_id=str(uuid.uuid4()),
            record_type=str(payload["RecordType"]),
            payload=payload,
            created_at=now,
            next_attempt_at=(due or now) if self.url else None,
            state="pending" if self.url else "dropped",
        )
        self._deliveries.append(delivery)
        return delivery

    def _due(self) -> list[WebhookDelivery]:
        return super()._due() if self.url is not None else []

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._timeout, trust_env=False, follow_redirects=False)

    async def _attempt(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> None:
        url = self.url
        if url is None:  # unset while this flush ran: what is pending waits for the next URL
            return
        retries_remaining = len(self._retry_delays) - len(delivery.attempts)
        headers = {
            **self.headers,
            "User-Agent": "Postmark",
            "X-PM-Webhook-Trace-Id": delivery.trace_id,
            "X-PM-Retries-Remaining": str(retries_remaining),
        }
        status: int | None = None
        error: str | None = None
        try:
            response = await client.post(
                url, json=delivery.payload, headers=headers, auth=self._auth or httpx.USE_CLIENT_DEFAULT
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        now = self._clock.now()
        delivery.attempts.append(
            WebhookAttempt(at=now, retries_remaining=retries_remaining, status_code=status, error=error)
        )
        if status is not None and 200 <= status < 300:
            delivery.state, delivery.next_attempt_at = "delivered", None
        elif status is not None and not _retryable(status):
            delivery.state, delivery.next_attempt_at = "dropped", None
        elif retries_remaining == 0:
            delivery.state, delivery.next_attempt_at = "failed", None
        else:
            delay = self._retry_delays[len(delivery.attempts) - 1]
            delivery.next_attempt_at = now + timedelta(seconds=delay)
