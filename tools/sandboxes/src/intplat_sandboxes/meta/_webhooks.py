"""Meta webhooks (reference A4, C1.11): the `hub.challenge` verification GET when a callback is configured, and event
POSTs signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`; a delivery can be sent again
byte for byte (Meta redelivers, so receivers must de-duplicate)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from intplat_sandboxes.framework import SandboxClock

SIGNATURE_HEADER = "X-Hub-Signature-256"


def hub_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verification:
    callback_url: str
    challenge: str
    status: int | None
    body: str
    verified: bool
    error: str | None = None


@dataclass
class WebhookDelivery:
    id: int
    url: str
    body: bytes
    signature: str
    attempts: list[tuple[datetime, int | None, str | None]] = field(default_factory=list)
    """(at, status, error) per attempt."""

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "payload": self.payload,
            "signature": self.signature,
            "attempts": [
                {"at": at.isoformat(), "status": status, "error": error} for at, status, error in self.attempts
            ],
        }


class WebhookSender:
    """One app-level subscription (the App Dashboard's callback URL and verify token), verified before it is used."""

    def __init__(self, clock: SandboxClock, app_secret: str, *, timeout: float = 5.0) -> None:
        self._clock = clock
        self._app_secret = app_secret
        self._timeout = timeout
        self.callback_url: str | None = None
        self.deliveries: list[WebhookDelivery] = []
        self._ids = itertools.count(1)

    def clear(self) -> None:
        self.callback_url = None
        self.deliveries.clear()

    async def subscribe(self, callback_url: str, verify_token: str) -> Verification:
        """Meta's check on saving the subscription: the callback must answer 200 with the challenge as its body."""
        challenge = str(secrets.randbelow(10**9))
        params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token}
        try:
            async with httpx.AsyncClient(timeout=self._timeout, trust_env=False) as client:
                response = await client.get(callback_url, params=params)
        except httpx.HTTPError as exc:
            return Verification(callback_url, challenge, None, "", False, f"{type(exc).__name__}: {exc}")
        verified = response.status_code == 200 and response.text == challenge
        if verified:
            self.callback_url = callback_url
        return Verification(callback_url, challenge, response.status_code, response.text, verified)

    async def send(self, payload: dict[str, Any], *, signature: str | None = None) -> WebhookDelivery:
        """POST `payload` to the verified callback; `signature` overrides the real one (the bad-signature case)."""
        if self.callback_url is None:
            raise LookupError("no verified webhook subscription")
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery = WebhookDelivery(
            next(self._ids), self.callback_url, body, signature or hub_signature(self._app_secret, body)
        )
        self.deliveries.append(delivery)
        await self.attempt(delivery)
        return delivery

    async def attempt(self, delivery: WebhookDelivery) -> WebhookDelivery:
        """(Re)deliver the same bytes with the same signature."""
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: delivery.signature}
        status: int | None = None
        error: str | None = None
        try:
            async with httpx.AsyncClient(timeout=self._timeout, trust_env=False) as client:
                status = (await client.post(delivery.url, content=delivery.body, headers=headers)).status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery.attempts.append((self._clock.now(), status, error))
        return delivery
