"""notifier: mails per second from a backlog of 10,000 `billing.invoice.paid.v1` events, and duplicates (must be 0).

The backlog (plus 500 redeliveries of events already in it) is in Kafka before the notifier starts; the notifier
and the Postmark sandbox run as their own processes. Measured from the notifier answering /readyz to the sandbox
holding one message per distinct event.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from intplat_devstack.paths import free_port

from intplat_common import TopicConfig, create_producer, ensure_topics
from intplat_common.events import TOPICS, CustomerDetails, InvoicePaid, to_cloud_event, to_kafka_headers

from ._infra import fresh_database, infrastructure
from ._report import write

ROOT = Path(__file__).resolve().parents[1]
EVENTS = 10_000
REDELIVERED = 500
TOKEN = "postmark-bench-token"  # noqa: S105 - the sandbox's token for this run


async def main() -> None:
    async with infrastructure() as (kafka, postgres):
        topics = [TopicConfig(t.name, t.partitions) for t in TOPICS.values()] + [TopicConfig("notifier.dlq", 1)]
        await ensure_topics(kafka.bootstrap_servers, topics, replication_factor=1)
        ids = await _publish_backlog(kafka.bootstrap_servers)
        database = await fresh_database(postgres)
        sandbox_port, notifier_port = free_port(), free_port()
        sandbox = _start(
            ["postmark-sandbox"],
            {
                "POSTMARK_SANDBOX_PORT": str(sandbox_port),
                "POSTMARK_SERVER_TOKEN": TOKEN,
                "POSTMARK_SANDBOX_WEBHOOK_URL": "",
            },
        )
        notifier_env = {
            "NOTIFIER_DATABASE_URL": database,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "POSTMARK_API_BASE": f"http://127.0.0.1:{sandbox_port}",
            "POSTMARK_SERVER_TOKEN": TOKEN,
            "NOTIFIER_PORT": str(notifier_port),
            "NOTIFIER_EMBEDDED_SENDER": "false",
            "LOG_LEVEL": "WARNING",
        }
        # Production layout: the HTTP/consumer process and the sender loop each in a process of their own.
        notifier = _start(["notifier", "serve"], notifier_env)
        sender = _start(["notifier", "sender"], notifier_env)
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                await _wait(http, f"http://127.0.0.1:{notifier_port}/readyz")
                started = time.monotonic()
                sent = 0
                while sent < EVENTS and time.monotonic() - started < 600:
                    sent = await _total(http, sandbox_port)
                    await asyncio.sleep(0.2)
                seconds = time.monotonic() - started
                await asyncio.sleep(3)  # anything sent twice would show up now
                messages = await _all_messages(http, sandbox_port)
        finally:
            for proc in (notifier, sender, sandbox):
                proc.terminate()
                proc.wait(20)
    keys = [m.get("Metadata", {}).get("dedupe_key") or m["MessageID"] for m in messages]
    recipients = [r for m in messages for r in m.get("Recipients", [])]
    expected = {f"billing-{i}@example.com" for i in range(EVENTS)}
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
    producer = create_producer(bootstrap, "bench-backlog")
    await producer.start()
    ids: list[str] = []
    try:
        futures = []
        events = [_invoice(i) for i in range(EVENTS)]
        events += random.Random(7).sample(events, REDELIVERED)
        for event_id, payload in events:
            cloud = to_cloud_event(payload, id=event_id, source="/stripe-gateway", time=datetime.now(UTC))
            futures.append(
                await producer.send(
                    InvoicePaid.TOPIC,
                    value=payload.model_dump_json().encode(),
                    key=payload.partition_key().encode(),
                    headers=to_kafka_headers(cloud),
                )
            )
            ids.append(event_id)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return ids


def _invoice(i: int) -> tuple[str, InvoicePaid]:
    event_id = f"evt_bench_{i:06d}"
    return event_id, InvoicePaid(
        stripe_event_id=event_id,
        stripe_api_version="2026-10-28.endive",
        stripe_created=datetime.now(UTC),
        livemode=False,
        invoice_id=f"in_bench_{i:06d}",
        invoice_number=f"BENCH-{i:06d}",
        status="paid",
        customer_id=f"cus_bench_{i:06d}",
        customer=CustomerDetails(
            email=f"billing-{i}@example.com", name=f"Customer {i}", locale="de" if i % 2 else "en"
        ),
        currency="eur",
        amount_due=2380,
        amount_paid=2380,
        amount_remaining=0,
        subtotal=2000,
        total=2380,
        total_tax=380,
        hosted_invoice_url=f"https://invoice.stripe.com/i/bench_{i}",
        invoice_pdf_url=f"https://pay.stripe.com/invoice/bench_{i}/pdf",
    )


def _start(cmd: list[str], env: dict[str, str]) -> Any:
    import subprocess

    return subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT)


async def _wait(http: httpx.AsyncClient, url: str) -> None:
    for _ in range(240):
        try:
            if (await http.get(url)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.25)
    raise TimeoutError(url)


async def _total(http: httpx.AsyncClient, port: int) -> int:
    response = await http.get(
        f"http://127.0.0.1:{port}/messages/outbound",
        params={"count": 1, "offset": 0},
        headers={"X-Postmark-Server-Token": TOKEN},
    )
    return int(response.json()["TotalCount"])


async def _all_messages(http: httpx.AsyncClient, port: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    total = await _total(http, port)
    for offset in range(0, min(total, 10_000), 500):
        response = await http.get(
            f"http://127.0.0.1:{port}/messages/outbound",
            params={"count": 500, "offset": offset},
            headers={"X-Postmark-Server-Token": TOKEN},
        )
        messages.extend(response.json()["Messages"])
    if total > 10_000:
        messages.extend({"MessageID": f"beyond-search-window-{n}"} for n in range(total - 10_000))
    return messages
