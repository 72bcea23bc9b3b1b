"""notifier: mails per second from a backlog of 10,000 `billing.invoice.paid.v1` events, and duplicates (must be 0).

The backlog (plus 500 redeliveries of events already in it) is in Kafka before the notifier starts; the notifier
and the Postmark sandbox run as their own processes. Measured from the notifier answering /readyz to the sandbox
holding one message per distinct event.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

from ._infra import create_topics, infrastructure, publish
from ._notifier import TOKEN, accepted_by_postmark, invoice, recipient, running_notifier
from ._report import write

EVENTS = 10_000
REDELIVERED = 500


async def main() -> None:
    async with infrastructure() as (kafka, postgres):
        await create_topics(kafka, "notifier")
        ids = await _publish_backlog(kafka.bootstrap_servers)
        async with running_notifier(kafka, postgres) as notifier, httpx.AsyncClient(timeout=10) as http:
            started = time.monotonic()
            sent = 0
            while sent < EVENTS and time.monotonic() - started < 600:
                sent = await accepted_by_postmark(http, notifier.sandbox_url)
                await asyncio.sleep(0.2)
            seconds = time.monotonic() - started
            await asyncio.sleep(3)  # anything sent twice would show up now
            messages = await _all_messages(http, notifier.sandbox_url)
    keys = [m.get("Metadata", {}).get("dedupe_key") or m["MessageID"] for m in messages]
    recipients = [r for m in messages for r in m.get("Recipients", [])]
    expected = {recipient(i) for i in range(EVENTS)}
    write(
        "notifier_backlog",
        {
            "events_distinct": EVENTS,
            "events_redelivered": REDELIVERED,
            "mails_sent": len(messages),
            "mails_per_s": round(len(messages) / seconds),
            "seconds": round(seconds, 2),
            "duplicates": len(keys) - len(set(keys)),
            "recipients_missing": len(expected - set(recipients)),
            "target_mails_per_s": 1000,
        },
        f"{EVENTS} invoice.paid events (+{REDELIVERED} redeliveries of the same CloudEvents ids) waiting in Kafka; "
        "the notifier's consumer (group `notifier`, send ledger), its sender loop (Postmark batch API) and the "
        "Postmark sandbox each in their own process; all on one 2-core machine with Kafka and PostgreSQL.",
    )
    assert ids


async def _publish_backlog(bootstrap: str) -> list[str]:
    events = [invoice(i) for i in range(EVENTS)]
    events += random.Random(7).sample(events, REDELIVERED)
    await publish(bootstrap, events, client_id="bench-backlog")
    return [event_id for event_id, _ in events]


async def _all_messages(http: httpx.AsyncClient, sandbox_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    total = await accepted_by_postmark(http, sandbox_url)
    for offset in range(0, min(total, 10_000), 500):
        response = await http.get(
            f"{sandbox_url}/messages/outbound",
            params={"count": 500, "offset": offset},
            headers={"X-Postmark-Server-Token": TOKEN},
        )
        messages.extend(response.json()["Messages"])
    if total > 10_000:
        messages.extend({"MessageID": f"beyond-search-window-{n}"} for n in range(total - 10_000))
    return messages
