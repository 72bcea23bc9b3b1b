"""Links to update a payment method: a Billing Portal session made through the gateway's internal proxy, or a
configured fallback URL.

A portal session URL is short-lived (Stripe expires unvisited sessions after minutes), so it is made when the mail
is rendered, not when the event arrives, and a new session per send attempt (the Idempotency-Key carries the
attempt) rather than Stripe's replay of an expired one. Production should prefer a stable
`BILLING_PORTAL_FALLBACK_URL` (a page of the app that opens a fresh session on click): see docs/notifier.md.
"""

from __future__ import annotations

import httpx

from intplat_common import CircuitOpenError, ProviderConfig, ProviderError, ResilientClient

from ..ports import PortalLinkUnavailable

PROVIDER = "stripe-gateway"


class GatewayPortalLinks:
    """`PortalLinks` through `POST {STRIPE_GATEWAY_URL}/v1/billing-portal/sessions`."""

    def __init__(
        self,
        *,
        gateway_url: str,
        api_key: str | None,
        return_url: str,
        fallback_url: str | None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key
        self._return_url = return_url
        self._fallback = fallback_url
        self.http = ResilientClient(
            ProviderConfig(name=PROVIDER, base_url=gateway_url, timeout=timeout, max_attempts=3),
            transport=transport,
        )

    async def payment_method_url(self, customer_id: str, *, locale: str, idempotency_key: str) -> str:
        try:
            return await self._session_url(customer_id, locale, idempotency_key)
        except PortalLinkUnavailable:
            if self._fallback:
                return self._fallback
            raise

    async def _session_url(self, customer_id: str, locale: str, idempotency_key: str) -> str:
        if not self._api_key:
            raise PortalLinkUnavailable("no API key for the gateway (STRIPE_GATEWAY_API_KEY)", permanent=True)
        try:
            response = await self.http.request(
                "POST",
                "/v1/billing-portal/sessions",
                json={"customer": customer_id, "return_url": self._return_url, "locale": locale},
                headers={"X-Internal-Api-Key": self._api_key, "Idempotency-Key": idempotency_key},
                # The Idempotency-Key makes a retry after a timeout safe: the gateway and Stripe replay it.
                idempotent=True,
            )
        except CircuitOpenError as exc:
            raise PortalLinkUnavailable(str(exc), permanent=False, retry_after=exc.retry_after) from exc
        except ProviderError as exc:
            raise PortalLinkUnavailable(str(exc), permanent=False) from exc
        if response.status_code != 200:
            # 4xx: the gateway or Stripe rejected this customer or our key; retrying the same request will not help.
            permanent = 400 <= response.status_code < 500 and response.status_code != 429
            raise PortalLinkUnavailable(
                f"gateway answered HTTP {response.status_code}: {response.text[:200]}", permanent=permanent
            )
        try:
            url = response.json().get("url")
        except (ValueError, AttributeError):
            url = None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise PortalLinkUnavailable("gateway answered without a session URL", permanent=False)
        return url

    async def aclose(self) -> None:
        await self.http.aclose()
