"""The notifier as production runs it (consumer process + sender process) beside a Postmark sandbox, for benchmarks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from intplat_devstack.infra import KafkaServer, PostgresServer
from intplat_devstack.paths import free_port

from intplat_common.events import CustomerDetails, InvoicePaid

from ._infra import fresh_database, start_process, wait_ready

TOKEN = "postmark-bench-token"  # noqa: S105 - the sandbox's token for this run


@dataclass(frozen=True)
class RunningNotifier:
    sandbox_url: str
    notifier_url: str
    database: str


@asynccontextmanager
async def running_notifier(kafka: KafkaServer, postgres: PostgresServer) -> AsyncIterator[RunningNotifier]:
    """A fresh database, the sandbox, `notifier serve` and its sender worker; ready when it yields."""
    database = await fresh_database(postgres)
    sandbox_port, notifier_port = free_port(), free_port()
    sandbox = start_process(
        ["postmark-sandbox"],
        {
            "POSTMARK_SANDBOX_PORT": str(sandbox_port),
            "POSTMARK_SERVER_TOKEN": TOKEN,
            "POSTMARK_SANDBOX_WEBHOOK_URL": "",
        },
    )
    env = {
        "NOTIFIER_DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "POSTMARK_API_BASE": f"http://127.0.0.1:{sandbox_port}",
        "POSTMARK_SERVER_TOKEN": TOKEN,
        "NOTIFIER_PORT": str(notifier_port),
        "NOTIFIER_EMBEDDED_SENDER": "false",
        "LOG_LEVEL": "WARNING",
    }
    # Production layout: the HTTP/consumer process and the sender loop each in a process of their own.
    sender = ["notifier", "worker", "sender", "breaker-watch"]
    processes = [sandbox, start_process(["notifier", "serve"], env), start_process(sender, env)]
    try:
        await wait_ready(f"http://127.0.0.1:{notifier_port}/readyz")
        yield RunningNotifier(f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{notifier_port}", database)
    finally:
        for proc in processes:
            proc.terminate()
            proc.wait(20)


def recipient(i: int) -> str:
    return f"billing-{i}@example.com"


async def accepted_by_postmark(http: httpx.AsyncClient, sandbox_url: str, token: str = TOKEN) -> int:
    """How many messages the Postmark sandbox accepted (its outbound search total)."""
    response = await http.get(
        f"{sandbox_url}/messages/outbound",
        params={"count": 1, "offset": 0},
        headers={"X-Postmark-Server-Token": token},
    )
    return int(response.json()["TotalCount"])


def invoice(i: int) -> tuple[str, InvoicePaid]:
    """The i-th benchmark invoice: its own customer and address (`recipient(i)`)."""
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
        customer=CustomerDetails(email=recipient(i), name=f"Customer {i}", locale="de" if i % 2 else "en"),
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
