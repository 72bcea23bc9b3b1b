"""lexoffice-bridge: a month-start burst of paid invoices booked in Lexoffice at its rate limit (issue 10).

500 `billing.invoice.paid.v1` events from 50 customers (10 each, interleaved as renewals arrive; 19 %, 19 % + 7 % and
7 % invoices) are published at once on Kafka. The bridge runs as production runs it (HTTP process, consumer process,
booker + relay process, its own PostgreSQL database) against the Lexoffice sandbox, whose token bucket allows 2
requests per second per API key, and the stand-in for Stripe's PDF host. Every call the sandbox received counts,
429s included. Measured until every event is consumed and no effect is pending; then the sandbox is asked for
duplicates (documents per voucherNumber) and missing documents or files.

Settings (environment): LEXOFFICE_BURST_INVOICES (500), LEXOFFICE_BURST_CUSTOMERS (50), LEXOFFICE_BURST_REFUND_SHARE:
the share of invoices corrected in full by a refunding Stripe credit note (`billing.refund.succeeded.v1`); by default
0.1 when the bridge consumes that topic, else 0 (refunds are not published at all).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from intplat_devstack.infra import KafkaServer, PostgresServer
from intplat_devstack.paths import free_port
from intplat_sandboxes.framework import serve_in_background
from intplat_sandboxes.lexoffice import RATE_PER_SECOND, LexofficeSandbox, create_lexoffice_sandbox
from intplat_sandboxes.stripe_files import create_stripe_files_sandbox

from intplat_common.effects import PENDING_STATUSES
from intplat_common.events import Address, CustomerDetails, InvoicePaid, InvoiceTax, RefundSucceeded
from lexoffice_bridge.consumers import router as bridge_router
from lexoffice_bridge.settings import LexofficeBridgeSettings

from ._infra import (
    create_topics,
    fresh_database,
    infrastructure,
    publish,
    start_process,
    wait_for_group,
    wait_ready,
)
from ._lexoffice_calls import STEADY_STATE_CUT, CallRecorder, per_kind, steady_state
from ._report import write

API_KEY = "lexoffice-bench-key"
GROUP = "lexoffice-bridge"
MONTH_START = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
# (rate, net in cents) per voucher item: a subscription at 19 %, one with an e-book at 7 % too, an e-book alone.
TAX_MIXES = (((19, 2000),), ((19, 2000), (7, 1000)), ((7, 1500),))
DEFAULT_REFUND_SHARE = 0.1
TARGETS = {"share_of_limit_pct": ">= 95", "calls_429_steady_state": "0", "calls_per_document": "<= 2.2"}


def invoice_calls_floor(invoices: int, customers: int) -> int:
    """The calls the invoices need at least: a voucher and its file each, an e-mail look-up and a create per customer
    new to Lexoffice (the issue's mapping first, then by e-mail), the posting categories once (cached an hour)."""
    return 2 * invoices + 2 * customers + 1


def client_pace() -> float:
    """The rate the bridge's shared bucket paces at by default: the limit minus the margin."""
    return LexofficeBridgeSettings().lexoffice_pace_per_second


def bridge_handles_refunds() -> bool:
    return RefundSucceeded.TOPIC in bridge_router.topics


def invoice(i: int, customers: int) -> InvoicePaid:
    customer = i % customers
    taxes = tuple(
        InvoiceTax(amount=net * rate // 100, taxable_amount=net, percentage=str(rate), tax_behavior="exclusive")
        for rate, net in TAX_MIXES[i % len(TAX_MIXES)]
    )
    subtotal = sum(t.taxable_amount or 0 for t in taxes)
    tax = sum(t.amount for t in taxes)
    return InvoicePaid(
        stripe_event_id=f"evt_burst_{i:05d}",
        stripe_api_version="2026-10-28.endive",
        stripe_created=MONTH_START,
        livemode=False,
        invoice_id=f"in_burst_{i:05d}",
        invoice_number=f"BURST-{i:05d}",
        status="paid",
        customer_id=f"cus_burst_{customer:03d}",
        customer=CustomerDetails(
            email=f"customer-{customer:03d}@example.com", name=f"Customer {customer}", address=Address(country="DE")
        ),
        billing_reason="subscription_cycle",
        currency="eur",
        amount_due=subtotal + tax,
        amount_paid=subtotal + tax,
        amount_remaining=0,
        subtotal=subtotal,
        total=subtotal + tax,
        total_tax=tax,
        taxes=taxes,
        invoice_pdf_url=f"https://pay.stripe.com/invoice/acct_bench/test_in_burst_{i:05d}/pdf",
        paid_at=MONTH_START,
    )


def refund(paid: InvoicePaid) -> RefundSucceeded:
    """The whole invoice credited and refunded by a Stripe credit note."""
    note = paid.invoice_id.replace("in_", "cn_")
    return RefundSucceeded(
        stripe_event_id=f"evt_{note}",
        stripe_api_version=paid.stripe_api_version,
        stripe_created=MONTH_START,
        livemode=False,
        source="credit_note",
        customer_id=paid.customer_id,
        currency="eur",
        amount=paid.total,
        created_at=MONTH_START,
        reason="product_unsatisfactory",
        invoice_id=paid.invoice_id,
        credit_note_id=note,
        credit_note_number=f"{paid.invoice_number}-CN-01",
        credit_note_pdf_url=f"https://pay.stripe.com/credit_notes/acct_bench/test_{note}/pdf",
        credit_note_refund_ids=(note.replace("cn_", "re_"),),
        refunded_amount=paid.total,
        subtotal=paid.subtotal,
        total_excluding_tax=paid.subtotal,
        taxes=paid.taxes,
    )


@asynccontextmanager
async def running_bridge(
    kafka: KafkaServer, postgres: PostgresServer, lexoffice: LexofficeSandbox, lexoffice_url: str, pdf_base: str
) -> AsyncIterator[str]:
    """A fresh database, `lexoffice-bridge serve` (the HTTP process, with whatever it embeds besides the consumer and
    the booker), its consumer and its booker + relay, each a process; yields the database once the consumer is in
    its group."""
    database = await fresh_database(postgres)
    port = free_port()
    env = {
        "LEXOFFICE_BRIDGE_DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "LEXOFFICE_API_BASE": lexoffice_url,
        "LEXOFFICE_API_KEY": API_KEY,
        "LEXOFFICE_BRIDGE_PDF_BASE": pdf_base,
        # Callbacks the sandbox sends (to the bridge's own route outside production) are verified, not refused.
        "LEXOFFICE_WEBHOOK_PUBLIC_KEY": lexoffice.signer.public_key_pem,
        "LEXOFFICE_BRIDGE_PORT": str(port),
        "LEXOFFICE_BRIDGE_EMBEDDED_CONSUMER": "false",
        "LEXOFFICE_BRIDGE_EMBEDDED_BOOKER": "false",
        "LOG_LEVEL": "WARNING",
    }
    processes = [start_process(["lexoffice-bridge", "serve"], env)]
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz")
        processes.append(start_process(["lexoffice-bridge", "worker", "consumer"], env))
        processes.append(start_process(["lexoffice-bridge", "worker", "booker", "relay"], env))
        # The burst arrives at a running bridge: its consumer is in the group before anything is published.
        await wait_for_group(kafka.bootstrap_servers, GROUP)
        yield database
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)


async def wait_until_settled(pool: asyncpg.Pool, consumed: int, limit_seconds: float) -> None:
    """Until `consumed` events are in the inbox and no effect is pending, twice in a row."""
    deadline = time.monotonic() + limit_seconds
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled after {limit_seconds:.0f} s: {dict(await _progress(pool))}")
        row = await _progress(pool)
        quiet = quiet + 1 if row["consumed"] >= consumed and row["pending"] == 0 else 0
        await asyncio.sleep(1.0)


async def _progress(pool: asyncpg.Pool) -> asyncpg.Record:
    row: asyncpg.Record = await pool.fetchrow(
        """
        SELECT (SELECT count(*) FROM inbox WHERE consumer = $1) AS consumed,
               (SELECT count(*) FROM lexoffice_effects WHERE status = ANY($2::text[])) AS pending,
               (SELECT count(*) FROM lexoffice_effects WHERE status IN ('dead', 'manual')) AS dead
        """,
        GROUP,
        list(PENDING_STATUSES),
    )
    return row


def documents(sandbox: LexofficeSandbox, invoices: list[InvoicePaid]) -> dict[str, int]:
    """What the sandbox holds: documents, duplicates (numbers with more than one document), the invoices with no
    voucher or a voucher without its file, and the credit documents (refunds)."""
    by_number = sandbox.documents_by_number()
    booked = {doc["id"] for docs in by_number.values() for doc in docs}
    missing = 0
    for paid in invoices:
        vouchers = by_number.get(paid.invoice_number or "", [])
        if not vouchers or not any(sandbox.store.resources[v["id"]].files for v in vouchers):
            missing += 1
    credits = sum(
        1 for docs in by_number.values() for d in docs if d["voucherType"] in ("salescreditnote", "creditnote")
    )
    return {
        "documents": len(booked),
        "duplicates": len(sandbox.duplicate_numbers()),
        "most_documents_per_number": max((len(docs) for docs in by_number.values()), default=0),
        "invoices_missing": missing,
        "credit_documents": credits,
    }


async def main() -> None:
    invoices_count = int(os.environ.get("LEXOFFICE_BURST_INVOICES", "500"))
    customers = int(os.environ.get("LEXOFFICE_BURST_CUSTOMERS", "50"))
    handled = bridge_handles_refunds()
    share = float(os.environ.get("LEXOFFICE_BURST_REFUND_SHARE", DEFAULT_REFUND_SHARE if handled else 0))
    invoices = [invoice(i, customers) for i in range(invoices_count)]
    refunds = [refund(paid) for paid in random.Random(10).sample(invoices, round(share * invoices_count))]
    # A refund follows its invoice: same customer key, published after it.
    events = [(e.stripe_event_id, e) for e in [*invoices, *refunds]]
    expected_documents = len(invoices) + len(refunds)
    sandbox = create_lexoffice_sandbox(api_keys=[API_KEY])
    recorder = CallRecorder(sandbox.app)
    async with (
        infrastructure() as (kafka, postgres),
        serve_in_background(recorder) as lexoffice_url,
        serve_in_background(create_stripe_files_sandbox()) as pdf_base,
    ):
        await create_topics(kafka, GROUP)
        async with running_bridge(kafka, postgres, sandbox, lexoffice_url, pdf_base) as database:
            pool = await asyncpg.create_pool(database, min_size=1, max_size=2)
            try:
                published_at = time.monotonic()
                await publish(kafka.bootstrap_servers, events, client_id="bench-lexoffice-burst")
                consumed = len(invoices) + (len(refunds) if handled else 0)
                await wait_until_settled(
                    pool, consumed, limit_seconds=120 + 3 * expected_documents * 2.5 / RATE_PER_SECOND
                )
                await asyncio.sleep(3)  # anything booked twice would show up now
                progress = await _progress(pool)
            finally:
                await pool.close()
    # What the bridge does on start (e.g. asserting its event subscriptions) is not part of the burst: counted apart.
    calls = [c for c in recorder.calls if c.at >= published_at]
    before = per_kind([c for c in recorder.calls if c.at < published_at])
    held = documents(sandbox, invoices)
    steady = steady_state(calls)
    seconds = max(c.at for c in calls) - published_at
    by_kind = {
        f"calls_per_document[{kind}]": round(n / held["documents"], 3) for kind, n in sorted(per_kind(calls).items())
    }
    write(
        "lexoffice_burst",
        {
            "invoices": len(invoices),
            "customers": customers,
            "refunds_published": len(refunds),
            "bridge_consumes_refunds": handled,
            "documents_expected": expected_documents,
            "documents_booked": held["documents"],
            "credit_documents": held["credit_documents"],
            "refunds_missing": max(0, len(refunds) - held["credit_documents"]),
            "invoices_missing_voucher_or_file": held["invoices_missing"],
            "duplicates": held["duplicates"],
            "most_documents_per_voucher_number": held["most_documents_per_number"],
            "effects_dead": progress["dead"],
            "api_calls_before_the_burst": ", ".join(f"{n} {kind}" for kind, n in sorted(before.items())) or "none",
            "api_calls": len(calls),
            "calls_429": sum(1 for c in calls if c.status == 429),
            "calls_429_steady_state": steady.throttled,
            "calls_per_document": round(len(calls) / held["documents"], 3),
            "invoice_calls_floor": invoice_calls_floor(len(invoices), customers),
            **by_kind,
            "limit_per_s": RATE_PER_SECOND,
            "client_pace_per_s": round(client_pace(), 3),
            "steady_state_calls_per_s": round(steady.per_second, 3),
            "share_of_limit_pct": round(100 * steady.per_second / RATE_PER_SECOND, 1),
            "whole_run_calls_per_s": round(len(calls) / seconds, 3),
            "steady_state_gap_ms_p50_min_max": f"{steady.gap_p50_ms:.0f} / {steady.gap_min_ms:.0f} / "
            f"{steady.gap_max_ms:.0f}",
            "seconds": round(seconds, 1),
            "documents_per_hour": round(held["documents"] / seconds * 3600),
            **{f"target_{name}": value for name, value in TARGETS.items()},
        },
        NOTES.format(
            invoices=len(invoices),
            customers=customers,
            refunds=_refund_note(handled, len(refunds)),
            cut=round(100 * STEADY_STATE_CUT),
            pace=round(client_pace(), 3),
            floor=invoice_calls_floor(len(invoices), customers),
            floor_per_document=invoice_calls_floor(len(invoices), customers) / len(invoices),
        ),
    )


def _refund_note(handled: bool, refunds: int) -> str:
    if refunds:
        unread = "" if handled else " (which this bridge does not consume yet: they stay unbooked)"
        return f"{refunds} of them refunded in full by a Stripe credit note (`billing.refund.succeeded.v1`{unread})"
    if handled:
        return "no refunds (LEXOFFICE_BURST_REFUND_SHARE=0)"
    return (
        "no refunds: this bridge does not consume `billing.refund.succeeded.v1` yet, so none were published "
        f"(once it does, the default mix refunds {DEFAULT_REFUND_SHARE:.0%} of the invoices; "
        "LEXOFFICE_BURST_REFUND_SHARE sets the share)"
    )


NOTES = """A month-start burst: {invoices} paid invoices (`billing.invoice.paid.v1`) from {customers} customers, \
{refunds}, published at once on Kafka. The lexoffice-bridge runs as in production (HTTP process, consumer process, \
booker + relay process, its PostgreSQL database, the shared PgTokenBucket pacing at {pace} requests per \
second) against the Lexoffice sandbox (token bucket: 2 requests per second per key, burst 2; 429 without a \
side effect) and the stand-in for Stripe's PDF host, on one 2-core machine with Kafka and PostgreSQL. Every call the \
sandbox received from the burst's publication on counts, 429s included (calls the bridge made on start, before the \
burst, are listed apart). Steady state: the calls without the first and the last {cut} % of them. \
Duplicates: voucher numbers holding more than one document in the sandbox. `invoice_calls_floor`: what the invoices \
need at least (a voucher and its file each, an e-mail look-up and a create per customer new to Lexoffice, the posting \
categories once): {floor} calls, {floor_per_document:.3f} per invoice; measured calls above it are retries, 429s or \
look-ups after ambiguous outcomes."""
