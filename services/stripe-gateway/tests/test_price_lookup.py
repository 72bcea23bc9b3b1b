"""Lookup keys resolved to price ids: the request Stripe gets, and the cache in front of it (no infrastructure)."""

from collections.abc import Sequence
from urllib.parse import parse_qsl

import httpx

from stripe_gateway.adapters.price_cache import LookupKeyPrices
from stripe_gateway.adapters.stripe_api import StripeApi


def price(lookup_key: str | None, price_id: str, *, active: bool = True) -> dict[str, object]:
    return {"id": price_id, "object": "price", "active": active, "lookup_key": lookup_key, "currency": "eur"}


class PriceList:
    """Stripe's `GET /v1/prices`: the active prices holding the requested lookup keys, plus a stray fixture price
    (as stripe-mock answers, ignoring the filter)."""

    def __init__(self, prices: dict[str, str]) -> None:
        self.prices = prices
        self.requests: list[list[tuple[str, str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = parse_qsl(request.url.query.decode())
        self.requests.append(query)
        keys = [value for name, value in query if name.startswith("lookup_keys[")]
        data = [price(key, self.prices[key]) for key in keys if key in self.prices]
        data.append(price(None, "price_fixture"))
        return httpx.Response(200, json={"object": "list", "url": "/v1/prices", "has_more": False, "data": data})


def stripe_api(prices: PriceList) -> StripeApi:
    return StripeApi(api_key="sk_test_1", api_base="https://stripe.test", transport=httpx.MockTransport(prices))


async def test_prices_are_listed_by_lookup_key_ten_at_a_time_and_filtered() -> None:
    keys = [f"plan_{n}" for n in range(12)]
    prices = PriceList({key: f"price_{n}" for n, key in enumerate(keys) if key != "plan_3"})
    api = stripe_api(prices)
    try:
        found = await api.prices.price_ids(keys)
    finally:
        await api.close()

    assert found == {key: f"price_{n}" for n, key in enumerate(keys) if key != "plan_3"}
    first, second = prices.requests
    assert first == [("active", "true"), *((f"lookup_keys[{n}]", keys[n]) for n in range(10)), ("limit", "10")]
    assert second == [("active", "true"), ("lookup_keys[0]", "plan_10"), ("lookup_keys[1]", "plan_11"), ("limit", "10")]


async def test_each_client_has_its_own_cache() -> None:
    """Two apps (two Stripe clients, possibly two accounts) never answer from each other's cache."""
    first_prices, second_prices = PriceList({"pro": "price_A"}), PriceList({"pro": "price_B"})
    first, second = stripe_api(first_prices), stripe_api(second_prices)
    try:
        assert await first.prices.price_ids(["pro"]) == {"pro": "price_A"}
        assert await second.prices.price_ids(["pro"]) == {"pro": "price_B"}
        assert await first.prices.price_ids(["pro"]) == {"pro": "price_A"}
    finally:
        await first.close()
        await second.close()
    assert (len(first_prices.requests), len(second_prices.requests)) == (1, 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fetches:
    def __init__(self, known: dict[str, str]) -> None:
        self.known = known
        self.calls: list[list[str]] = []

    async def __call__(self, lookup_keys: Sequence[str]) -> dict[str, str]:
        self.calls.append(list(lookup_keys))
        return {key: self.known[key] for key in lookup_keys if key in self.known}


async def test_an_answer_is_kept_for_the_ttl_then_asked_again() -> None:
    clock, fetch = Clock(), Fetches({"pro": "price_1"})
    prices = LookupKeyPrices(fetch, ttl=60, clock=clock)

    assert await prices.price_ids(["pro"]) == {"pro": "price_1"}
    clock.now += 59
    fetch.known["pro"] = "price_2"
    assert await prices.price_ids(["pro"]) == {"pro": "price_1"}
    clock.now += 2
    assert await prices.price_ids(["pro"]) == {"pro": "price_2"}
    assert fetch.calls == [["pro"], ["pro"]]


async def test_only_missing_keys_are_asked_for_and_unknown_ones_are_not_remembered() -> None:
    fetch = Fetches({"pro": "price_1", "starter": "price_2"})
    prices = LookupKeyPrices(fetch, ttl=60, clock=Clock())

    assert await prices.price_ids(["pro"]) == {"pro": "price_1"}
    assert await prices.price_ids(["pro", "starter", "gone", "starter"]) == {"pro": "price_1", "starter": "price_2"}
    fetch.known["gone"] = "price_3"  # created by the next catalog sync
    assert await prices.price_ids(["gone"]) == {"gone": "price_3"}
    assert fetch.calls == [["pro"], ["starter", "gone"], ["gone"]]


async def test_a_forgotten_key_is_asked_for_again() -> None:
    fetch = Fetches({"pro": "price_1"})
    prices = LookupKeyPrices(fetch, ttl=60, clock=Clock())
    await prices.price_ids(["pro"])
    prices.forget(["pro"])
    await prices.price_ids(["pro"])
    assert fetch.calls == [["pro"], ["pro"]]
