"""The one HTTP client factory every provider adapter uses.

Order of the layers for one logical call: breaker (outside) → retries with backoff and jitter → rate limiter →
httpx (timeouts, OpenTelemetry). The breaker sees one outcome per logical call, not one per attempt.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from opentelemetry import metrics
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor, RequestInfo
from opentelemetry.trace import Span

from ._breaker import AsyncCircuitBreaker
from ._correlation import CORRELATION_HEADER, current_correlation_id
from ._ratelimit import RateLimiter
from ._redaction import redact_url
from ._tls import certificate_expiry, tls_connection

log = logging.getLogger("intplat.http")
meter = metrics.get_meter("intplat_common.http")
_requests = meter.create_counter("provider_requests_total", description="external calls (attempts)")
_errors = meter.create_counter("provider_errors_total", description="failed external calls (attempts)")
_retries = meter.create_counter("provider_retries_total", description="retried attempts")
_latency = meter.create_histogram(
    "provider_request_duration_seconds", unit="s", description="latency of one external attempt"
)

# Attributes of each attempt's HTTP client span (the httpx instrumentation's), next to its semantic conventions.
PROVIDER = "intplat.provider"
PROVIDER_OPERATION = "intplat.provider.operation"
PROVIDER_ATTEMPT = "intplat.provider.attempt"
BREAKER_STATE = "intplat.breaker.state"
CORRELATION_ID = "intplat.correlation_id"
_SPAN_ATTRIBUTES = "intplat.span_attributes"  # the request extension that carries them to the span

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    base_url: str
    timeout: float = 10.0
    connect_timeout: float = 5.0
    max_attempts: int = 4
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    retry_after_cap: float = 60.0
    rate_limit_per_second: float | None = None
    rate_limit_burst: int = 1
    breaker_fail_max: int = 5
    breaker_reset_timeout: float = 30.0
    # The first open period after tripping; doubled per failed trial up to breaker_reset_timeout (None: no growth).
    breaker_first_reset_timeout: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class Limiter(Protocol):
    async def acquire(self) -> None: ...


class Authorization(Protocol):
    """The `Authorization` header of each attempt, asked for per attempt (a token can be refreshed between two)."""

    async def header(self) -> str: ...

    async def refused(self, header: str) -> bool:
        """The provider answered 401 to `header`: True when another header is now available (a refreshed token),
        and the request is sent once more; False leaves the 401 to the caller."""
        ...


@dataclass(frozen=True)
class BearerToken:
    """A fixed credential (an API key): a 401 cannot be helped by asking again."""

    token: str

    async def header(self) -> str:
        return f"Bearer {self.token}"

    async def refused(self, header: str) -> bool:  # noqa: ARG002 - nothing else to offer
        return False


class ProviderError(Exception):
    """The provider could not give a usable answer after retries (5xx, 429, timeouts, connection errors)."""

    def __init__(self, provider: str, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.response = response


class AmbiguousOutcome(ProviderError):
    """A non-idempotent call may or may not have taken effect (timeout or drop after sending).
    Not retried blindly: the caller checks the provider's state before trying again."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ResilientClient:
    def __init__(
        self,
        config: ProviderConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        breaker: AsyncCircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        limiter: Limiter | None = None,
        authorization: Authorization | None = None,
    ) -> None:
        """`limiter`: paces every attempt (e.g. a `PgTokenBucket` shared across processes) instead of the
        in-process one `config.rate_limit_per_second` builds. `authorization`: sets each attempt's `Authorization`
        header; on a 401 it may offer another one, and the call is sent once more (once per logical call)."""
        self.config = config
        self._authorization = authorization
        self.breaker = breaker or AsyncCircuitBreaker(
            config.name,
            fail_max=config.breaker_fail_max,
            reset_timeout=config.breaker_reset_timeout,
            first_reset_timeout=config.breaker_first_reset_timeout,
        )
        self._limiter: Limiter | None = limiter or (
            RateLimiter(config.rate_limit_per_second, config.rate_limit_burst) if config.rate_limit_per_second else None
        )
        self._sleep = sleep
        self.certificate_expires_at: float | None = None
        """notAfter (Unix seconds) of the TLS certificate the provider presented on the last https answer."""
        self._certificate_read_from: ssl.SSLObject | ssl.SSLSocket | None = None
        self._client = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
            headers=dict(config.headers),
            transport=transport,
            event_hooks={"response": [self._note_certificate]},
        )
        HTTPXClientInstrumentor().instrument_client(self._client, request_hook=_label_span)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _note_certificate(self, response: httpx.Response) -> None:
        # A response hook runs before the body is read: the connection (and its TLS session) is still open. The
        # certificate is read once per connection, not on every call a kept-alive connection carries.
        connection = tls_connection(response)
        if connection is None or connection is self._certificate_read_from:
            return
        self._certificate_read_from = connection
        if (expires_at := certificate_expiry(connection)) is not None:
            self.certificate_expires_at = expires_at

    async def __aenter__(self) -> ResilientClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def request(
        self, method: str, url: str, *, idempotent: bool | None = None, operation: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Returns any answer below 500 other than 408/429 (4xx included: the caller maps them).

        `idempotent=True` lets a POST be retried after a timeout or 5xx (the request carries an idempotency
        key, or the provider documents it as safe); by default only idempotent methods are. `operation` names the
        call on its spans (default: the method and the path).
        """
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault(CORRELATION_HEADER, current_correlation_id() or _new_id())
        operation = operation or f"{method} {httpx.URL(url).path}"
        async with self.breaker.guard():
            return await self._with_retries(method, url, safe, headers, kwargs, operation)

    async def _with_retries(
        self, method: str, url: str, safe: bool, headers: dict[str, str], kwargs: dict[str, Any], operation: str
    ) -> httpx.Response:
        attempt = 0
        reauthorized = False
        while True:
            attempt += 1
            wait: float | None
            try:
                response = await self._attempt(method, url, headers, kwargs, attempt, operation)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached the provider: always safe to try again.
                error: ProviderError = ProviderError(self.config.name, f"{method} {url}: {exc!r}")
                wait = None
            except httpx.TransportError as exc:
                if not safe:
                    raise AmbiguousOutcome(
                        self.config.name, f"{method} {url}: {exc!r} after the request was sent"
                    ) from exc
                error = ProviderError(self.config.name, f"{method} {url}: {exc!r}")
                wait = None
            else:
                status = response.status_code
                if status == 401 and not reauthorized and await self._reauthorize(response):
                    # A 401 is the gateway refusing the call before acting on it: safe to send again, at once.
                    reauthorized = True
                    continue
                if status not in RETRYABLE_STATUS:
                    return response
                error = ProviderError(self.config.name, f"{method} {url}: HTTP {status}", response)
                # 429 means the provider refused the request without acting on it: safe for any method.
                if status != 429 and not safe:
                    if status in (502, 504, 408):
                        raise AmbiguousOutcome(self.config.name, f"{method} {url}: HTTP {status}", response)
                    raise error
                wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > self.config.retry_after_cap:
                    raise error
            if attempt >= self.config.max_attempts:
                raise error
            if wait is None:
                cap = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1))
                wait = random.uniform(0, cap)
            _retries.add(1, {"provider": self.config.name})
            await self._sleep(wait)

    async def _reauthorize(self, response: httpx.Response) -> bool:
        if self._authorization is None:
            return False
        return await self._authorization.refused(response.request.headers.get("Authorization", ""))

    async def _attempt(
        self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any], attempt: int, operation: str
    ) -> httpx.Response:
        if self._authorization is not None:
            headers = {**headers, "Authorization": await self._authorization.header()}
        if self._limiter is not None:
            await self._limiter.acquire()
        started = time.perf_counter()
        attrs = {"provider": self.config.name, "method": method}
        span_attributes = {
            PROVIDER: self.config.name,
            PROVIDER_OPERATION: operation,
            PROVIDER_ATTEMPT: attempt,
            # The state this attempt was let through in (half-open: it is the breaker's trial).
            BREAKER_STATE: self.breaker.state,
            CORRELATION_ID: headers[CORRELATION_HEADER],
        }
        try:
            response = await self._client.request(
                method, url, headers=headers, extensions={_SPAN_ATTRIBUTES: span_attributes}, **kwargs
            )
        except httpx.HTTPError as exc:
            elapsed = time.perf_counter() - started
            _requests.add(1, {**attrs, "status_class": "error"})
            _errors.add(1, {**attrs, "error": type(exc).__name__})
            _latency.record(elapsed, attrs)
            sent_url = exc.request.url if isinstance(exc, httpx.RequestError) else url
            self._log(method, sent_url, None, elapsed, attempt, type(exc).__name__)
            raise
        elapsed = time.perf_counter() - started
        status_class = f"{response.status_code // 100}xx"
        _requests.add(1, {**attrs, "status_class": status_class})
        _latency.record(elapsed, attrs)
        if response.status_code >= 400:
            _errors.add(1, {**attrs, "error": f"http_{response.status_code}"})
        self._log(method, response.request.url, response.status_code, elapsed, attempt, None)
        return response

    def _log(
        self,
        method: str,
        url: str | httpx.URL,
        status: int | None,
        elapsed: float,
        attempt: int,
        error: str | None,
    ) -> None:
        fields: dict[str, Any] = {
            "provider": self.config.name,
            "method": method,
            "url": redact_url(self._client.base_url.join(url)),
            "status": status,
            "duration_ms": round(elapsed * 1000, 1),
            "attempt": attempt,
        }
        if error:
            fields["error"] = error
        level = logging.INFO if status is not None and status < 400 else logging.WARNING
        log.log(level, "external call", extra={"fields": fields})


async def _label_span(span: Span, request: RequestInfo) -> None:
    if span.is_recording():
        span.set_attributes((request.extensions or {}).get(_SPAN_ATTRIBUTES, {}))


def _new_id() -> str:
    import uuid

    return uuid.uuid4().hex
