"""Backfill: list Stripe's events for a window (at most the 30 days Stripe keeps) and ingest the ones never
recorded, through the same path as webhooks (envelope check, mapping, one transaction with the outbox rows)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from .adapters.stripe_api import StripeApi
from .storage.webhook_events import known_ids, record_events
from .webhooks.ingest import InvalidEvent, build_incoming, parse_event

log = logging.getLogger(__name__)

MAX_WINDOW = timedelta(days=30)
PAGE_SIZE = 100


@dataclass
class ReconcileReport:
    listed: int = 0
    already_recorded: int = 0
    ingested: int = 0
    rejected: int = 0


def window(since: datetime, until: datetime | None = None) -> tuple[int, int]:
    until = until or datetime.now(UTC)
    if since >= until:
        raise ValueError("the window must start before it ends")
    if until - since > MAX_WINDOW:
        raise ValueError("Stripe lists events of the last 30 days only; use a window of at most 30 days")
    return int(since.timestamp()), int(until.timestamp())


async def reconcile(
    api: StripeApi, pool: asyncpg.Pool, *, since: datetime, until: datetime | None = None
) -> ReconcileReport:
    start, end = window(since, until)
    report = ReconcileReport()
    params: dict[str, object] = {"created[gte]": start, "created[lt]": end, "limit": PAGE_SIZE}
    while True:
        page = await api.list_events(params)
        events = page.get("data", [])
        report.listed += len(events)
        seen = await known_ids(pool, [e.get("id", "") for e in events])
        fresh = []
        for event in events:
            if event.get("id") in seen:
                report.already_recorded += 1
                continue
            raw = _json(event)
            try:
                envelope, text = parse_event(raw.encode())
            except InvalidEvent as exc:
                report.rejected += 1
                log.warning("listed event rejected", extra={"fields": {"id": event.get("id"), "reason": str(exc)}})
                continue
            fresh.append(build_incoming(envelope, text))
        if fresh:
            report.ingested += len(await record_events(pool, fresh))
        if not page.get("has_more") or not events:
            return report
        params["starting_after"] = events[-1]["id"]


def _json(event: object) -> str:
    return json.dumps(event, separators=(",", ":"))
