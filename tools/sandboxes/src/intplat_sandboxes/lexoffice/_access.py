"""Who may call, and how often: Bearer API keys and one token bucket per key across all endpoints (reference §2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from intplat_sandboxes.framework import SandboxClock

from ._errors import UNAUTHORIZED, LexofficeError, gateway_error

RATE_PER_SECOND = 2.0
BURST = 2.0
TOO_MANY_REQUESTS = "Too Many Requests"


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBucket:
    """Tokens refill at `rate` per second of the sandbox clock up to `burst`; one token per request."""

    def __init__(self, clock: SandboxClock, *, rate: float, burst: float) -> None:
        self._clock = clock
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> bool:
        now = self._clock.now().timestamp()
        bucket = self._buckets.setdefault(key, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def clear(self) -> None:
        self._buckets.clear()


class AccessControl:
    """Authenticates a request's `Authorization` header and charges its key's bucket.

    401 (gateway envelope) for a missing, unknown or revoked key; 403 for a non-Bearer header; 429 without a side
    effect when the key's bucket is empty, with `Retry-After` only if `retry_after_seconds` is set. An OAuth access
    token counts as its connection (`token_owner`), so every token of one connection shares one bucket."""

    def __init__(
        self,
        clock: SandboxClock,
        keys: Iterable[str],
        *,
        rate: float,
        burst: float,
        token_owner: Callable[[str], str | None] = lambda _token: None,
    ) -> None:
        self.keys = set(keys)
        self._token_owner = token_owner
        self.revoked: set[str] = set()
        self.bucket = TokenBucket(clock, rate=rate, burst=burst)
        self.retry_after_seconds: int | None = None
        self.limited = True
        self.requests_per_key: Counter[str] = Counter()
        self.throttled_per_key: Counter[str] = Counter()

    @property
    def throttled(self) -> int:
        """The 429 counter over all keys."""
        return sum(self.throttled_per_key.values())

    def admit(self, authorization: str | None) -> str:
        key = self.authenticate(authorization)
        self.requests_per_key[key] += 1
        if self.limited and not self.bucket.take(key):
            self.throttled_per_key[key] += 1
            headers = {} if self.retry_after_seconds is None else {"Retry-After": str(self.retry_after_seconds)}
            raise gateway_error(429, TOO_MANY_REQUESTS, **headers)
        return key

    def authenticate(self, authorization: str | None) -> str:
        if not authorization:
            raise gateway_error(401, UNAUTHORIZED)
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise _not_a_key_value_pair(authorization)
        key = credential.strip()
        if key in self.keys and key not in self.revoked:
            return key
        connection = self._token_owner(key)
        if connection is None:
            raise gateway_error(401, UNAUTHORIZED)
        return connection

    def revoke(self, key: str) -> None:
        self.revoked.add(key)

    def clear(self) -> None:
        self.revoked.clear()
        self.bucket.clear()
        self.retry_after_seconds = None
        self.limited = True
        self.requests_per_key.clear()
        self.throttled_per_key.clear()


def _not_a_key_value_pair(authorization: str) -> LexofficeError:
    # The API gateway's wording for a header that is not `Bearer <key>` (reference §5, envelope 1).
    token = authorization.strip().split(" ")[-1]
    return gateway_error(
        403, f"'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{authorization}'."
    )
