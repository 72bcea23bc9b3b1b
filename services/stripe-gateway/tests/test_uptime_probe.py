"""The gateway's Stripe uptime probe: a cheap authenticated read, run in `serve` when probes are on."""

from __future__ import annotations

import httpx
import pytest

from stripe_gateway.adapters.stripe_api import StripeApi
from stripe_gateway.app import embedded_workers

from .conftest import make_settings


class Recording(httpx.AsyncHTTPTransport):
    """The real transport, keeping every request it sends."""

    def __init__(self, seen: list[httpx.Request]) -> None:
        super().__init__()
        self.seen = seen

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return await super().handle_async_request(request)


async def test_the_probe_reads_the_balance_with_the_api_key(stripe_mock: str) -> None:
    seen: list[httpx.Request] = []
    stripe = StripeApi(api_key="sk_test_probe", api_base=stripe_mock, transport=Recording(seen))
    try:
        await stripe.probe()
    finally:
        await stripe.close()
    assert [(r.method, r.url.path, r.headers["Authorization"]) for r in seen] == [
        ("GET", "/v1/balance", "Bearer sk_test_probe")
    ]


async def test_a_refused_key_fails_the_probe() -> None:
    refused = httpx.MockTransport(lambda _: httpx.Response(401, json={"error": {"message": "Invalid API Key"}}))
    stripe = StripeApi(api_key="sk_test_wrong", api_base="http://stripe.test", transport=refused)
    try:
        with pytest.raises(Exception, match="Invalid API Key"):
            await stripe.probe()
    finally:
        await stripe.close()


@pytest.mark.parametrize(("probes", "embedded"), [(None, ["relay"]), (True, ["relay", "uptime"])])
def test_serve_embeds_the_probe_when_probes_are_on(probes: bool | None, embedded: list[str]) -> None:
    extra = {} if probes is None else {"PROVIDER_PROBES": probes}
    settings = make_settings("postgresql://unused/none", "localhost:9092", "http://stripe.test", **extra)
    assert embedded_workers(settings) == embedded  # tests (INTPLAT_ENVIRONMENT=test) probe only when asked
