"""Fixtures for the bridge tests: settings, the bridge's database migrated on a real PostgreSQL, and the `platform`:
the bridge served with Kafka, the Lexoffice sandbox and a stand-in for Stripe's PDF host."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI, Request, Response
from intplat_devstack.testing import eventually, read_records
from intplat_sandboxes.framework import ReservedPort, create_sandbox_app, serve_in_background
from intplat_sandboxes.lexoffice import LexofficeSandbox, create_lexoffice_sandbox

from intplat_common import TopicConfig, create_pool, create_producer, dlq_topic, ensure_topics, migrate
from intplat_common.events import (
    Address,
    BillingEvent,
    BookkeepingDocumentSynced,
    CustomerDetails,
    InvoicePaid,
    InvoiceTax,
    to_cloud_event,
    to_kafka_headers,
    to_kafka_value,
)
from intplat_common.service import create_service_app
from lexoffice_bridge import ledger
from lexoffice_bridge.app import SERVICE
from lexoffice_bridge.settings import LexofficeBridgeSettings
from lexoffice_bridge.storage import MIGRATIONS

API_KEY = "test-lexoffice-key"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_settings(database: str = "postgresql://unused/none", **extra: Any) -> LexofficeBridgeSettings:
    values: dict[str, Any] = {
        "LEXOFFICE_BRIDGE_DATABASE_URL": database,
        "INTPLAT_ENVIRONMENT": "test",
        "LEXOFFICE_API_BASE": "http://lexoffice.test",
        "LEXOFFICE_API_KEY": API_KEY,
        # The booking tests turn these on with Kafka and the sandbox; the others need neither.
        "LEXOFFICE_BRIDGE_EMBEDDED_CONSUMER": False,
        "LEXOFFICE_BRIDGE_EMBEDDED_BOOKER": False,
        "LEXOFFICE_BRIDGE_EMBEDDED_STATUS": False,
    }
    values.update(extra)
    return LexofficeBridgeSettings(**values)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    """The bridge's database, migrated."""
    await migrate(database, MIGRATIONS)
    pool = await create_pool(database, max_size=4)
    yield pool
    await pool.close()


# --- the bridge served with Kafka, its Lexoffice sandbox and a stand-in for Stripe's PDF host -------------------


@dataclass
class Platform:
    """The bridge on a real socket (consumer, booker and relay embedded), beside the Lexoffice sandbox."""

    app: FastAPI
    sandbox: LexofficeSandbox
    sandbox_url: str
    pdf_url: str
    topic: str
    group: str
    bootstrap: str
    url: str  # the bridge's own

    @property
    def pool(self) -> asyncpg.Pool:
        pool: asyncpg.Pool = self.app.state.pool
        return pool

    async def publish(self, event: BillingEvent, *, event_id: str | None = None, times: int = 1) -> None:
        cloud = to_cloud_event(
            event, id=event_id or event.stripe_event_id, source="/stripe-gateway", time=event.stripe_created
        )
        producer = create_producer(self.bootstrap, "lexoffice-bridge-tests")
        await producer.start()
        try:
            for _ in range(times):
                await producer.send_and_wait(
                    self.topic,
                    value=to_kafka_value(cloud),
                    key=event.partition_key().encode(),
                    headers=to_kafka_headers(cloud),
                )
        finally:
            await producer.stop()

    async def ledger(self, invoice_id: str) -> list[asyncpg.Record]:
        return await ledger.history(self.pool, invoice_id)

    async def ledger_kinds(self, invoice_id: str) -> list[str]:
        return [row["kind"] for row in await self.ledger(invoice_id)]

    async def effects(self) -> dict[str, str]:
        rows = await self.pool.fetch("SELECT effect_key, status FROM lexoffice_effects ORDER BY created_at")
        return {row["effect_key"]: row["status"] for row in rows}

    async def attached(self, invoice_id: str, *, timeout: float = 60.0) -> list[asyncpg.Record]:
        async def done() -> list[asyncpg.Record] | None:
            rows = await self.ledger(invoice_id)
            return rows if "file_attached" in [r["kind"] for r in rows] else None

        try:
            result: list[asyncpg.Record] = await eventually(done, timeout=timeout, what=f"{invoice_id} booked")
        except AssertionError as exc:
            effects = await self.pool.fetch("SELECT effect_key, status, attempts, error FROM lexoffice_effects")
            raise AssertionError(f"{exc}; effects: {[dict(e) for e in effects]}") from None
        return result

    def requests(self) -> list[tuple[str, str, int | None]]:
        """What the bridge asked Lexoffice: (method, path, status)."""
        return [(r.method, r.path, r.status) for r in self.sandbox.app.requests.records(path_prefix="/v1/")]

    async def synced(self, invoice_id: str, *, expect: int = 1, quiet: float = 2.0) -> list[dict[str, Any]]:
        records = await read_records(
            self.bootstrap,
            BookkeepingDocumentSynced.TOPIC,
            expect=expect,
            quiet=quiet,
            where=lambda r: r.value is not None and json.loads(r.value)["source_id"] == invoice_id,
        )
        return [json.loads(r.value) for r in records if r.value is not None]


def pdf_bytes(path: str) -> bytes:
    """A small PDF, different per invoice (Lexoffice de-duplicates files by checksum)."""
    return (
        b"%PDF-1.4\n% " + path.encode() + b"\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


@pytest.fixture
async def stripe_files() -> AsyncIterator[tuple[list[str], str]]:
    """Stripe's invoice PDF host: `GET /invoice/{account}/{id}/pdf` (the path of `invoice_pdf` URLs)."""
    box = create_sandbox_app("stripe-files")
    fetched: list[str] = []

    async def pdf(request: Request) -> Response:
        fetched.append(request.url.path)
        return Response(pdf_bytes(request.url.path), media_type="application/pdf")

    box.api.add_api_route("/invoice/{account}/{invoice}/pdf", pdf, methods=["GET"])
    box.api.add_api_route("/credit_notes/{account}/{credit_note}/pdf", pdf, methods=["GET"])
    async with serve_in_background(box) as url:
        yield fetched, url


@dataclass
class OpsChat:
    """A Slack-compatible incoming webhook on a real socket: the ops alert channel's receiver."""

    url: str
    texts: list[str]


@pytest.fixture
async def ops_chat() -> AsyncIterator[OpsChat]:
    box = create_sandbox_app("ops-chat")
    texts: list[str] = []

    async def post(request: Request) -> Response:
        texts.append((await request.json())["text"])
        return Response("ok")

    box.api.add_api_route("/services/T0/B0/hook", post, methods=["POST"])
    async with serve_in_background(box) as url:
        yield OpsChat(f"{url}/services/T0/B0/hook", texts)


@pytest.fixture
def sandbox_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """`create_lexoffice_sandbox` options a test sets (`indirect=True`); by default the rate limit is out of the way."""
    return {"burst": 100_000, **getattr(request, "param", {})}


@pytest.fixture
def settings_extra(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
async def platform(
    database: str,
    kafka: Any,
    stripe_files: tuple[list[str], str],
    sandbox_options: dict[str, Any],
    settings_extra: dict[str, Any],
    ops_chat: OpsChat,
) -> AsyncIterator[Platform]:
    suffix = uuid.uuid4().hex[:10]
    topic, group = f"t.invoice.{suffix}", f"lexoffice-bridge-{suffix}"
    configs = [TopicConfig(topic, 3), TopicConfig(dlq_topic(group), 1), TopicConfig(BookkeepingDocumentSynced.TOPIC, 3)]
    await ensure_topics(kafka.bootstrap_servers, configs, replication_factor=1)
    sandbox = create_lexoffice_sandbox(api_keys=[API_KEY], **sandbox_options)
    # Known before the bridge starts (its event subscriptions point at it), held until it serves.
    reserved = ReservedPort()
    port = reserved.port
    async with serve_in_background(sandbox.app) as sandbox_url:
        settings = make_settings(
            database,
            **{
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                "LEXOFFICE_API_BASE": sandbox_url,
                "LEXOFFICE_BRIDGE_PDF_BASE": stripe_files[1],
                "LEXOFFICE_BRIDGE_EMBEDDED_CONSUMER": True,
                "LEXOFFICE_BRIDGE_EMBEDDED_BOOKER": True,
                "LEXOFFICE_BRIDGE_CONSUMER_GROUP": group,
                "LEXOFFICE_BRIDGE_TOPICS": topic,
                "LEXOFFICE_BRIDGE_BOOKER_POLL_SECONDS": 0.2,
                "LEXOFFICE_BRIDGE_RETRY_BASE_SECONDS": 0.2,
                "LEXOFFICE_BRIDGE_RETRY_MAX_SECONDS": 1,
                "LEXOFFICE_BRIDGE_RECONCILE_DELAY_SECONDS": 0.2,
                "LEXOFFICE_BACKOFF_BASE_SECONDS": 0.05,
                "LEXOFFICE_TIMEOUT_SECONDS": 5,
                "OPS_ALERT_WEBHOOK_URL": ops_chat.url,
                "OPS_ALERT_MIN_INTERVAL_SECONDS": 0,
                "LEXOFFICE_WEBHOOK_PUBLIC_KEY": sandbox.signer.public_key_pem,
                "LEXOFFICE_BRIDGE_URL": f"http://127.0.0.1:{port}",
                "LEXOFFICE_BRIDGE_CALLBACK_URL": f"http://127.0.0.1:{port}/webhooks/lexoffice",
                **settings_extra,
            },
        )
        app = create_service_app(SERVICE, settings)
        with reserved:
            async with serve_in_background(app, sock=reserved.listener()) as url:
                yield Platform(app, sandbox, sandbox_url, stripe_files[1], topic, group, kafka.bootstrap_servers, url)


def paid_invoice(
    number: str | None = None, *, customer_id: str = "cus_ada", email: str | None = "ada@example.com", **kw: Any
) -> InvoicePaid:
    """A paid EUR invoice: 100.00 at 19 % and 10.00 at 7 %, 129.70 in all; ids unique per call."""
    suffix = uuid.uuid4().hex[:8]
    invoice_id = kw.pop("invoice_id", f"in_{suffix}")
    values: dict[str, Any] = {
        "stripe_event_id": f"evt_{suffix}",
        "stripe_api_version": "2025-03-31.basil",
        "stripe_created": T0,
        "livemode": False,
        "invoice_id": invoice_id,
        "invoice_number": number or f"INV-{suffix}",
        "status": "paid",
        "customer_id": customer_id,
        "customer": CustomerDetails(email=email, name="Ada Lovelace", address=Address(country="DE")),
        "currency": "eur",
        "amount_due": 12970,
        "amount_paid": 12970,
        "amount_remaining": 0,
        "subtotal": 11000,
        "total": 12970,
        "total_tax": 1970,
        "taxes": (
            InvoiceTax(amount=1900, taxable_amount=10000, percentage="19", tax_behavior="exclusive"),
            InvoiceTax(amount=70, taxable_amount=1000, percentage="7", tax_behavior="exclusive"),
        ),
        "invoice_pdf_url": f"https://pay.stripe.com/invoice/acct_1Demo/test_{invoice_id}/pdf",
        "paid_at": T0,
    }
    values.update(kw)
    return InvoicePaid(**values)
