"""The catalog's lookup keys resolved to price ids, remembered for a while (Checkout by lookup key)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

PriceIdsFetch = Callable[[Sequence[str]], Awaitable[dict[str, str]]]


class LookupKeyPrices:
    """lookup_key -> id of the active price holding it, each answer kept for `ttl` seconds.

    A key Stripe does not know is not remembered, so a price the next catalog sync creates is found at once. One
    instance per Stripe client: the answers belong to that client's account and key.
    """

    def __init__(self, fetch: PriceIdsFetch, *, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._known: dict[str, tuple[str, float]] = {}

    async def price_ids(self, lookup_keys: Iterable[str]) -> dict[str, str]:
        """The price id for each key Stripe knows; unknown keys are absent. One request for all keys not cached."""
        wanted = list(dict.fromkeys(lookup_keys))
        now = self._clock()
        found = {key: known[0] for key in wanted if (known := self._known.get(key)) and known[1] > now}
        missing = [key for key in wanted if key not in found]
        if missing:
            fetched = await self._fetch(missing)
            expires = self._clock() + self._ttl
            self._known.update((key, (price_id, expires)) for key, price_id in fetched.items())
            found.update(fetched)
        return found

    def forget(self, lookup_keys: Iterable[str]) -> None:
        """Drop these answers (Stripe refused a price resolved from them: the catalog may have replaced it)."""
        for key in lookup_keys:
            self._known.pop(key, None)
