"""The bridge's event subscriptions, asserted at start and every `interval` seconds: they can vanish (Lexoffice deletes
one after its callbacks failed with 404 or at once on 410, and every one of a revoked key).

A round is one `GET /v1/event-subscriptions`, plus one create per missing subscription; every call takes a token of
the shared bucket.
"""

from __future__ import annotations

import logging

from .periodic import PeriodicWorker
from .ports import Conflict, LexofficeApi

log = logging.getLogger(__name__)

# What the bridge listens to (reference §4): payments and status changes of the documents it books, and the end of
# its access.
SUBSCRIBED_EVENTS = (
    "payment.changed",
    "invoice.status.changed",
    "voucher.status.changed",
    "credit-note.status.changed",
    "token.revoked",
)


async def ensure_subscriptions(api: LexofficeApi, callback_url: str) -> list[str]:
    """Creates the subscriptions to `callback_url` that are missing; returns their event types."""
    present = {s.event_type for s in await api.list_subscriptions() if s.callback_url == callback_url}
    created: list[str] = []
    for event_type in SUBSCRIBED_EVENTS:
        if event_type in present:
            continue
        try:
            await api.create_subscription(event_type, callback_url)
        except Conflict:
            continue  # another replica created it since our list
        created.append(event_type)
    if created:
        log.info("event subscriptions created", extra={"fields": {"event_types": created, "url": callback_url}})
    return created


class SubscriptionKeeper(PeriodicWorker):
    name = "subscriptions"

    def __init__(self, api: LexofficeApi, callback_url: str | None, *, interval: float, retry_seconds: float) -> None:
        super().__init__(interval=interval, retry_seconds=retry_seconds)
        self._api = api
        self._callback_url = callback_url

    async def run_once(self) -> int:
        if self._callback_url is None:
            log.error("no LEXOFFICE_BRIDGE_CALLBACK_URL: the bridge receives no payment or status callbacks")
            return 0
        return len(await ensure_subscriptions(self._api, self._callback_url))
