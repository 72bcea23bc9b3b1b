"""notifier: how fast mail returns to normal after a Postmark outage, under a steady 150 events/s.

Two faults, one after the other, while `billing.invoice.paid.v1` events arrive at a steady rate:
1. Postmark answers 500 for 15 s, then 429 for 15 s (the breaker opens; mails back off).
2. Five sends are recorded by Postmark and then the connection is reset (the breaker opens; each of the five is
   looked up before anything is sent again).
For each: the seconds from Postmark's recovery until the backlog (events published minus mails the notifier recorded
as accepted by Postmark) is back to what it was before the fault (at least one second of traffic). The notifier's
own record counts, not Postmark's: a send recorded by Postmark whose answer was lost is not done until the notifier
has looked it up. At the end: duplicates and missing mails
(both must be 0). The notifier and its sender loop run as their own processes, as in production.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from intplat_common import create_producer
from intplat_common.events import InvoicePaid, to_cloud_event, to_kafka_headers

from ._infra import create_topics, infrastructure
from ._notifier import accepted_by_postmark, invoice, recipient, running_notifier
from ._report import write

RATE = 150  # events per second, as in the chaos run that measured the old recovery times
WARM_UP_SECONDS = 10.0
OUTAGE_HALF_SECONDS = 15.0
SETTLE_LIMIT_SECONDS = 90.0
STABLE_SECONDS = 5.0
RATE_LIMITED = {"ErrorCode": 429, "Message": "Rate limit exceeded. Slow down."}


class Load:
    """Publishes invoice.paid events at a steady rate until stopped; counts what it published."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self.published = 0
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        producer = create_producer(self._bootstrap, "bench-recovery")
        await producer.start()
        started = time.monotonic()
        try:
            while not self._stopping.is_set():
                due = int((time.monotonic() - started) * RATE)
                while self.published < due:
                    event_id, payload = invoice(self.published)
                    cloud = to_cloud_event(payload, id=event_id, source="/stripe-gateway", time=datetime.now(UTC))
                    await producer.send(
                        InvoicePaid.TOPIC,
                        value=payload.model_dump_json().encode(),
                        key=payload.partition_key().encode(),
                        headers=to_kafka_headers(cloud),
                    )
                    self.published += 1
                await asyncio.sleep(0.01)
        finally:
            await producer.stop()

    def stop(self) -> None:
        self._stopping.set()


class Postmark:
    """The sandbox's outbound count and its fault controls."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base = base_url

    async def accepted(self) -> int:
        return await accepted_by_postmark(self._http, self._base)

    async def fault(self, rule: dict[str, Any]) -> str:
        response = await self._http.post(f"{self._base}/_sandbox/faults", json={"path_prefix": "/email", **rule})
        response.raise_for_status()
        return str(response.json()["id"])

    async def active_faults(self) -> int:
        return len((await self._http.get(f"{self._base}/_sandbox/faults")).json())

    async def clear_faults(self) -> None:
        await self._http.delete(f"{self._base}/_sandbox/faults")

    async def messages(self) -> list[dict[str, Any]]:
        response = await self._http.get(f"{self._base}/_sandbox/postmark/messages")
        messages: list[dict[str, Any]] = response.json()
        return messages


class Ledger:
    """The notifier's own count of mails Postmark accepted (webhooks are off, so they stay `sent`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def sent(self) -> int:
        return int(await self._pool.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'"))


async def backlog(load: Load, ledger: Ledger) -> int:
    return load.published - await ledger.sent()


async def normal_backlog(load: Load, ledger: Ledger, seconds: float) -> int:
    """The largest backlog seen over `seconds` of normal operation, but at least one second of traffic."""
    worst = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        worst = max(worst, await backlog(load, ledger))
        await asyncio.sleep(0.2)
    return max(worst, RATE)


async def seconds_to_normal(load: Load, ledger: Ledger, recovered_at: float, normal: int) -> float:
    """From Postmark's recovery until the backlog is within `normal` for good (`STABLE_SECONDS` in a row): a fault
    whose effect comes after it ends (a breaker opened by the last failures) is counted, not missed."""
    normal_since: float | None = None
    while (now := time.monotonic()) - recovered_at < SETTLE_LIMIT_SECONDS:
        if await backlog(load, ledger) > normal:
            normal_since = None
        else:
            normal_since = normal_since or now
            if now - normal_since >= STABLE_SECONDS:
                return max(0.0, normal_since - recovered_at)
        await asyncio.sleep(0.2)
    return float("inf")


async def status_outage(postmark: Postmark) -> float:
    """500 for a while, then 429 for a while; returns when Postmark answered normally again."""
    await postmark.fault({"kind": "status", "status": 500, "body": {"ErrorCode": 500, "Message": "Internal"}})
    await asyncio.sleep(OUTAGE_HALF_SECONDS)
    await postmark.clear_faults()
    await postmark.fault({"kind": "status", "status": 429, "body": RATE_LIMITED})
    await asyncio.sleep(OUTAGE_HALF_SECONDS)
    await postmark.clear_faults()
    return time.monotonic()


async def resets_after_commit(postmark: Postmark) -> float:
    """Five sends recorded, then their connections reset; returns when the fifth was applied."""
    await postmark.fault({"kind": "commit_then_reset", "times": 5})
    while await postmark.active_faults():
        await asyncio.sleep(0.05)
    return time.monotonic()


async def measure(
    load: Load, ledger: Ledger, postmark: Postmark, fault: Callable[[Postmark], Awaitable[float]]
) -> tuple[int, float, int]:
    normal = await normal_backlog(load, ledger, WARM_UP_SECONDS)
    peak_task = asyncio.create_task(_peak(load, ledger))
    recovered_at = await fault(postmark)
    seconds = await seconds_to_normal(load, ledger, recovered_at, normal)
    peak_task.cancel()
    peak = await asyncio.gather(peak_task, return_exceptions=True)
    return normal, seconds, int(peak[0]) if isinstance(peak[0], int) else -1


async def _peak(load: Load, ledger: Ledger) -> int:
    worst = 0
    try:
        while True:
            worst = max(worst, await backlog(load, ledger))
            await asyncio.sleep(0.5)
    except asyncio.CancelledError:
        return worst


async def main() -> None:
    async with infrastructure() as (kafka, postgres):
        await create_topics(kafka, "notifier")
        load = Load(kafka.bootstrap_servers)
        async with running_notifier(kafka, postgres) as notifier, httpx.AsyncClient(timeout=10) as http:
            postmark = Postmark(http, notifier.sandbox_url)
            pool = await asyncpg.create_pool(notifier.database, min_size=1, max_size=2)
            ledger = Ledger(pool)
            publishing = asyncio.create_task(load.run())
            status = await measure(load, ledger, postmark, status_outage)
            resets = await measure(load, ledger, postmark, resets_after_commit)
            load.stop()
            await publishing
            deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
            while await postmark.accepted() < load.published and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)  # anything sent twice would show up now
            messages = await postmark.messages()
            await pool.close()
    keys = [m.get("Metadata", {}).get("dedupe_key") for m in messages]
    recipients = {r for m in messages for r in m.get("Recipients", [])}
    expected = {recipient(i) for i in range(load.published)}
    write(
        "notifier_recovery",
        {
            "events_per_s": RATE,
            "events_published": load.published,
            "outage_500_then_429_seconds": 2 * OUTAGE_HALF_SECONDS,
            "outage_backlog_normal": status[0],
            "outage_backlog_peak": status[2],
            "outage_seconds_to_normal_after_recovery": round(status[1], 1),
            "resets_after_commit": 5,
            "resets_backlog_peak": resets[2],
            "resets_seconds_to_normal_after_recovery": round(resets[1], 1),
            "mails_sent": len(messages),
            "duplicates": len(keys) - len(set(keys)),
            "recipients_missing": len(expected - recipients),
            "target_seconds_to_normal": 30,
        },
        f"invoice.paid events at a steady {RATE}/s into the notifier (consumer + sender processes, Postmark "
        "sandbox) while Postmark fails: (1) 500 for 15 s then 429 for 15 s; (2) five sends recorded then reset. "
        "Seconds from Postmark's recovery until the backlog (published minus mails the notifier recorded as sent) is "
        "back to its level before the fault (at least one second of traffic) for good (5 s in a row). Breaker: 5 "
        "failures, first open period 5 s (POSTMARK_BREAKER_FIRST_RESET_SECONDS), doubled per failed trial up to "
        "30 s. One 2-core machine with Kafka and PostgreSQL.",
    )
