"""Event callbacks (reference §4): compact JSON signed with RSA-SHA512, Lexoffice's retry schedule on the sandbox clock.

Success: 200, 201, 202, 204. Retried: 401, 403, 429, 5xx, timeouts (5 s) and connection errors, after 10, 20, 40,
80 and 160 s, then 30 min, then 20 times every 2 h. 404: retried, and the subscription is deleted when the retries
run out; 410: the subscription is deleted at once; other 4xx and 3xx (after at most 3 redirects): dropped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from intplat_sandboxes.framework import DeliveryState, SandboxClock, ScheduledEmitter

from ._models import Subscription

SIGNATURE_HEADER = "X-Lxo-Signature"
RETRY_DELAYS_SECONDS: tuple[float, ...] = (10, 20, 40, 80, 160, 30 * 60, *([2 * 3600] * 20))
_WITH_STATUS = ("invoice", "credit-note", "delivery-note", "down-payment-invoice", "order-confirmation", "quotation")
_RESOURCES = ("article", "contact", *_WITH_STATUS, "dunning", "recurring-template", "voucher")
EVENT_TYPES = frozenset(
    {f"{resource}.{event}" for resource in _RESOURCES for event in ("created", "changed", "deleted")}
    | {f"{resource}.status.changed" for resource in (*_WITH_STATUS, "voucher")}
    | {"payment.changed", "token.revoked"}
)
SUCCESS = frozenset({200, 201, 202, 204})
RETRIED = frozenset({401, 403, 404, 429})
MAX_REDIRECTS = 3


class CallbackSigner:
    """The sandbox's RSA keypair: made at start, or a given private key (PEM: `make run` generates one and gives the
    bridge its public half); the bridge under test is configured with `public_key_pem`."""

    def __init__(self, key_size: int = 2048, *, private_key_pem: str | None = None) -> None:
        if private_key_pem is None:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        else:
            loaded = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError("the callback signing key must be an RSA private key")
            self._key = loaded
        self.public_key_pem = (
            self._key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, body: bytes) -> str:
        # PKCS#1 v1.5, as `openssl dgst -sha512 -verify` expects (reference §4 Signature).
        return base64.b64encode(self._key.sign(body, padding.PKCS1v15(), hashes.SHA512())).decode()


def compact(payload: dict[str, Any]) -> bytes:
    """The body "without whitespaces and linebreaks"."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class CallbackAttempt:
    at: datetime
    status_code: int | None = None
    error: str | None = None


@dataclass
class CallbackDelivery:
    """One event for one subscription and every attempt to deliver it. `failed` means the retries ran out."""

    subscription_id: str
    url: str
    body: bytes
    signature: str
    next_attempt_at: datetime | None
    state: DeliveryState = "pending"
    attempts: list[CallbackAttempt] = field(default_factory=list)

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload

    def summary(self) -> dict[str, Any]:
        return {
            "subscriptionId": self.subscription_id,
            "url": self.url,
            "payload": self.payload,
            "signature": self.signature,
            "state": self.state,
            "nextAttemptAt": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "attempts": [
                {"at": a.at.isoformat(), "statusCode": a.status_code, "error": a.error} for a in self.attempts
            ],
        }


class CallbackEmitter(ScheduledEmitter[CallbackDelivery]):
    def __init__(
        self,
        clock: SandboxClock,
        signer: CallbackSigner,
        *,
        delete_subscription: Callable[[str], object],
        timeout: float = 5.0,
        retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS,
        poll_interval: float = 0.05,
    ) -> None:
        super().__init__("lexoffice-sandbox-callbacks", clock, poll_interval)
        self._signer = signer
        self._delete_subscription = delete_subscription
        self._timeout = timeout
        self._retry_delays = tuple(retry_delays)

    def enqueue(self, subscription: Subscription, payload: dict[str, Any], *, signature: str | None = None) -> None:
        """Queue one callback; `signature` overrides the real one (the bad-signature scenario)."""
        body = compact(payload)
        self._deliveries.append(
            CallbackDelivery(
                subscription_id=subscription.id,
                url=subscription.callback_url,
                body=body,
                signature=signature if signature is not None else self._signer.sign(body),
                next_attempt_at=self._clock.now(),
            )
        )

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._timeout, trust_env=False, follow_redirects=True, max_redirects=MAX_REDIRECTS
        )

    async def _attempt(self, client: httpx.AsyncClient, delivery: CallbackDelivery) -> None:
        status: int | None = None
        error: str | None = None
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: delivery.signature}
        try:
            response = await client.post(delivery.url, content=delivery.body, headers=headers)
            status = response.status_code
        except httpx.TooManyRedirects as exc:
            error = f"TooManyRedirects: {exc}"
            status = 300
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        now = self._clock.now()
        delivery.attempts.append(CallbackAttempt(at=now, status_code=status, error=error))
        retries_done = len(delivery.attempts) - 1
        if status in SUCCESS:
            delivery.state, delivery.next_attempt_at = "delivered", None
        elif status == 410:
            delivery.state, delivery.next_attempt_at = "dropped", None
            self._delete_subscription(delivery.subscription_id)
        elif status is not None and status < 500 and status not in RETRIED:
            delivery.state, delivery.next_attempt_at = "dropped", None
        elif retries_done == len(self._retry_delays):
            delivery.state, delivery.next_attempt_at = "failed", None
            if status == 404:
                self._delete_subscription(delivery.subscription_id)
        else:
            delivery.next_attempt_at = now + timedelta(seconds=self._retry_delays[retries_done])
