"""Stripe Customers (`GET /v1/customers/{id}`) on the shared resilient client: where the address of a customer comes
from when no event told us (a PaymentIntent carries only the customer id)."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from intplat_common import CircuitOpenError, ProviderConfig, ProviderError, ResilientClient

from ..ports import CustomerInfo, CustomerLookupUnavailable

PROVIDER = "stripe-customers"


class StripeCustomers:
    """`CustomerDirectory` reading Stripe. A read: retried by the client on timeouts and 5xx."""

    def __init__(
        self,
        *,
        api_base: str,
        api_key: str,
        timeout: float = 10.0,
        max_attempts: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = ResilientClient(
            ProviderConfig(
                name=PROVIDER,
                base_url=api_base,
                timeout=timeout,
                max_attempts=max_attempts,
                headers={"Authorization": f"Bearer {api_key}"},
            ),
            transport=transport,
        )

    async def fetch(self, customer_id: str) -> CustomerInfo | None:
        try:
            response = await self.http.request("GET", f"/v1/customers/{quote(customer_id, safe='')}")
        except (CircuitOpenError, ProviderError) as exc:
            raise CustomerLookupUnavailable(str(exc)) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise CustomerLookupUnavailable(f"Stripe answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
        except ValueError as exc:
            raise CustomerLookupUnavailable("Stripe answered with a body that is not JSON") from exc
        if not isinstance(body, dict) or body.get("deleted"):
            return None
        locales = body.get("preferred_locales")
        locale = locales[0] if isinstance(locales, list) and locales and isinstance(locales[0], str) else None
        return CustomerInfo(
            customer_id=customer_id,
            email=_text(body.get("email")),
            name=_text(body.get("name")),
            locale=locale,
        )

    async def aclose(self) -> None:
        await self.http.aclose()


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
