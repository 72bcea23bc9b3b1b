"""Stripe, reached through the `stripe` library whose HTTP calls run on the shared resilient client.

The library keeps its request building, typed objects and error classes; every call goes through
`intplat_common.ResilientClient` (breaker, retries with backoff, structured log line, metrics, OpenTelemetry).
The library's own retries are off, so a call is retried in one place only. Stripe's SDK puts an
`Idempotency-Key` on every POST, which is what makes retrying a POST after a timeout safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import httpx
import stripe

from intplat_common import ProviderConfig, ProviderError, ResilientClient

from .price_cache import LookupKeyPrices

PROVIDER = "stripe"
LOOKUP_KEYS_PER_REQUEST = 10  # Stripe's limit for `lookup_keys[]` on GET /v1/prices
# How long a lookup key's price is used without asking Stripe again; after a catalog sync replaced the price,
# Stripe refuses the archived one and that answer is dropped at once (the caller's retry resolves anew).
PRICE_CACHE_TTL = 60.0


class _ResilientStripeHttp(stripe.HTTPClient):
    name = "intplat-resilient"

    def __init__(self, client: ResilientClient) -> None:
        super().__init__()
        self._client = client

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        idempotent = method.upper() in ("GET", "DELETE") or "Idempotency-Key" in headers
        try:
            response = await self._client.request(
                method, url, headers=dict(headers), content=post_data or None, idempotent=idempotent
            )
        except ProviderError as exc:
            if exc.response is not None:
                # Let the library turn Stripe's error body into its typed exception (RateLimitError, APIError...).
                return exc.response.content, exc.response.status_code, exc.response.headers
            _connection_error(exc)
        return response.content, response.status_code, response.headers

    async def request_stream_async(self, *_: Any, **__: Any) -> NoReturn:
        raise stripe.APIConnectionError("streaming responses are not used by the gateway")  # type: ignore[no-untyped-call]

    async def close_async(self) -> None:
        await self._client.aclose()

    def sleep_async(self, secs: float) -> Any:
        import asyncio

        return asyncio.sleep(secs)


def _connection_error(exc: ProviderError) -> NoReturn:
    raise stripe.APIConnectionError(str(exc), should_retry=False) from exc  # type: ignore[no-untyped-call]


class StripeApi:
    """The calls the gateway makes to Stripe."""

    def __init__(
        self,
        *,
        api_key: str,
        api_base: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        max_attempts: int = 3,
        price_cache_ttl: float = PRICE_CACHE_TTL,
    ) -> None:
        self._api_key = api_key
        self.http = ResilientClient(
            ProviderConfig(name=PROVIDER, base_url=api_base, timeout=timeout, max_attempts=max_attempts),
            transport=transport,
        )
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base, "connect": api_base, "files": api_base, "meter_events": api_base},
            http_client=_ResilientStripeHttp(self.http),
            max_network_retries=0,
        )
        self.prices = LookupKeyPrices(self._active_price_ids, ttl=price_cache_ttl)

    async def probe(self) -> None:
        """The uptime probe: a cheap authenticated read (the account's balance)."""
        await self.client.v1.balance.retrieve_async()

    async def create_checkout_session(self, params: dict[str, Any], idempotency_key: str) -> stripe.checkout.Session:
        return await self.client.v1.checkout.sessions.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": idempotency_key},
        )

    async def create_portal_session(
        self, params: dict[str, Any], idempotency_key: str
    ) -> stripe.billing_portal.Session:
        return await self.client.v1.billing_portal.sessions.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": idempotency_key},
        )

    async def active_prices(self, lookup_keys: Sequence[str]) -> dict[str, stripe.Price]:
        """The active price holding each lookup key; a key no active price holds is absent. Stripe keeps a lookup
        key on one price at most, so one page answers a request's keys."""
        found: dict[str, stripe.Price] = {}
        for start in range(0, len(lookup_keys), LOOKUP_KEYS_PER_REQUEST):
            chunk = list(lookup_keys[start : start + LOOKUP_KEYS_PER_REQUEST])
            page = await self.client.v1.prices.list_async(
                {"active": True, "lookup_keys": chunk, "limit": LOOKUP_KEYS_PER_REQUEST}
            )
            for price in page.data:
                # Filter again: a stand-in (stripe-mock) may ignore the filter and return fixtures.
                if price.active and price.lookup_key in chunk:
                    found[price.lookup_key] = price
        return found

    async def _active_price_ids(self, lookup_keys: Sequence[str]) -> dict[str, str]:
        return {key: price.id for key, price in (await self.active_prices(lookup_keys)).items()}

    async def list_events(self, params: dict[str, Any]) -> dict[str, Any]:
        """One page of `GET /v1/events` as the JSON Stripe sent: events exactly as they would arrive by webhook."""
        response = await self.http.request(
            "GET", "/v1/events", params=params, headers={"Authorization": f"Bearer {self._api_key}"}
        )
        if response.status_code != 200:
            raise stripe.APIError(f"listing events failed with HTTP {response.status_code}: {response.text[:300]}")
        page: dict[str, Any] = response.json()
        return page

    async def close(self) -> None:
        await self.http.aclose()
