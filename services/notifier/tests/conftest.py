"""Fixtures for the notifier tests: settings, the Postmark sandbox, the app on a real socket, Kafka helpers."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request
from intplat_devstack.testing import eventually, read_records
from intplat_sandboxes.framework import ReservedPort, SandboxApp, create_sandbox_app, serve_in_background

from intplat_common import TopicConfig, create_producer, dlq_topic, ensure_topics
from intplat_common.events import EventModel, to_cloud_event, to_kafka_headers, to_kafka_value
from notifier.app import create_app
from notifier.settings import NotifierSettings

API_KEY = "test-notifier-key-1"
POSTMARK_TOKEN = "test-postmark-server-token"
WEBHOOK_USER = "postmark"
WEBHOOK_PASSWORD = "test-webhook-password"
SENDER = "billing@intplat.local"
GATEWAY_KEY = "test-gateway-key"
TOPIC_NAMES = ("checkout", "invoice", "payment", "instagram", "documents")


def make_settings(
    database: str, bootstrap: str, postmark_base: str, stripe_base: str, **extra: Any
) -> NotifierSettings:
    values: dict[str, Any] = {
        "NOTIFIER_DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "INTERNAL_API_KEYS": f"{API_KEY},test-notifier-key-2",
        "INTPLAT_ENVIRONMENT": "test",
        "POSTMARK_API_BASE": postmark_base,
        "POSTMARK_SERVER_TOKEN": POSTMARK_TOKEN,
        "POSTMARK_WEBHOOK_USER": WEBHOOK_USER,
        "POSTMARK_WEBHOOK_PASSWORD": WEBHOOK_PASSWORD,
        "NOTIFIER_FROM": SENDER,
        "STRIPE_API_BASE": stripe_base,
        "STRIPE_GATEWAY_URL": "http://127.0.0.1:9",
        "STRIPE_GATEWAY_API_KEY": GATEWAY_KEY,
        "POSTMARK_TIMEOUT_SECONDS": 5,
        "POSTMARK_MAX_ATTEMPTS": 2,
        "POSTMARK_BACKOFF_BASE_SECONDS": 0.05,
        "POSTMARK_BREAKER_FAIL_MAX": 3,
        "POSTMARK_BREAKER_RESET_SECONDS": 1,
        "NOTIFIER_SENDER_POLL_SECONDS": 0.2,
        "NOTIFIER_RETRY_BASE_SECONDS": 0.2,
        "NOTIFIER_RETRY_MAX_SECONDS": 1,
        "NOTIFIER_RECONCILE_DELAY_SECONDS": 0.2,
        "NOTIFIER_EMBEDDED_CONSUMER": False,
        "NOTIFIER_BREAKER_WATCH_INTERVAL_SECONDS": 0.2,
        # Only the portal-link tests wait for the gateway longer than `portal_link_attempts`.
        "NOTIFIER_PORTAL_LINK_WAIT_SECONDS": 0,
    }
    values.update(extra)
    return NotifierSettings(**values)


@dataclass
class Platform:
    """The notifier served on a real socket, beside its Postmark sandbox."""

    app: FastAPI
    url: str
    client: httpx.AsyncClient
    sandbox: Any
    sandbox_url: str
    settings: NotifierSettings

    @property
    def pool(self) -> asyncpg.Pool:
        pool: asyncpg.Pool = self.app.state.pool
        return pool

    async def rows(self) -> list[asyncpg.Record]:
        return await self.pool.fetch("SELECT * FROM messages ORDER BY created_at, id")

    async def row(self, message_id: str | uuid.UUID) -> asyncpg.Record:
        record = await self.pool.fetchrow("SELECT * FROM messages WHERE id = $1", uuid.UUID(str(message_id)))
        assert record is not None
        return record

    async def send_api(
        self, template: str = "password_reset", to: str = "ada@example.com", **kw: Any
    ) -> httpx.Response:
        model = kw.pop("model", None) or {
            "reset_url": "https://app.example.com/reset?token=abc",
            "expires_in_minutes": 30,
        }
        headers = {"X-Internal-Api-Key": API_KEY, **kw.pop("headers", {})}
        return await self.client.post(
            "/v1/emails", json={"template": template, "to": to, "model": model, **kw}, headers=headers
        )

    async def settled(self, message_id: str | uuid.UUID, *, timeout: float = 30.0) -> asyncpg.Record:
        async def done() -> asyncpg.Record | None:
            record = await self.row(message_id)
            return record if record["status"] not in ("queued", "sending", "unknown") else None

        result: asyncpg.Record = await eventually(done, timeout=timeout, what=f"message {message_id} settled")
        return result


def new_sandbox(webhook_url: str | None = None) -> Any:
    from intplat_sandboxes.postmark import create_postmark_sandbox

    return create_postmark_sandbox(
        server_token=POSTMARK_TOKEN,
        senders=[SENDER],
        webhook_url=webhook_url,
        webhook_basic_auth=(WEBHOOK_USER, WEBHOOK_PASSWORD),
    )


@pytest.fixture
def notifier_port() -> Iterator[ReservedPort]:
    """Known before the notifier starts (the sandbox posts its webhooks to it), held until it serves."""
    with ReservedPort() as reserved:
        yield reserved


@pytest.fixture
def sandbox_webhooks() -> bool:
    """Whether the sandbox posts its webhooks to the notifier (a module overrides this to keep Postmark's state
    to itself, e.g. a suppression the notifier must discover through a 406)."""
    return True


@pytest.fixture
async def postmark_sandbox(notifier_port: ReservedPort, sandbox_webhooks: bool) -> AsyncIterator[tuple[Any, str]]:
    box = new_sandbox(f"http://127.0.0.1:{notifier_port.port}/webhooks/postmark" if sandbox_webhooks else None)
    async with serve_in_background(box.app) as url:
        yield box, url


@pytest.fixture
def settings_extra(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings a test adds: `@pytest.mark.parametrize("settings_extra", [{...}], indirect=True)`. A test that asks
    for `topics` gets the embedded consumer on them."""
    extra: dict[str, Any] = dict(getattr(request, "param", {}))
    if "topics" in request.fixturenames:
        extra = {**request.getfixturevalue("topics").settings(), **extra}
    if "gateway" in request.fixturenames:
        extra.setdefault("STRIPE_GATEWAY_URL", request.getfixturevalue("gateway").url)
    if "chat" in request.fixturenames:
        extra.setdefault("OPS_ALERT_WEBHOOK_URL", request.getfixturevalue("chat").url)
    return extra


@contextlib.asynccontextmanager
async def running_notifier(
    settings: NotifierSettings, port: ReservedPort, sandbox: Any, sandbox_url: str
) -> AsyncIterator[Platform]:
    """The notifier served on `port` (uvicorn runs its lifespan: consumer, sender, breaker watch)."""
    app = create_app(settings)
    async with (
        serve_in_background(app, sock=port.listener()) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield Platform(app=app, url=url, client=client, sandbox=sandbox, sandbox_url=sandbox_url, settings=settings)


@pytest.fixture
async def platform(
    database: str,
    kafka: Any,
    stripe_mock: str,
    postmark_sandbox: tuple[Any, str],
    notifier_port: ReservedPort,
    settings_extra: dict[str, Any],
) -> AsyncIterator[Platform]:
    box, box_url = postmark_sandbox
    settings = make_settings(database, kafka.bootstrap_servers, box_url, stripe_mock, **settings_extra)
    async with running_notifier(settings, notifier_port, box, box_url) as running:
        yield running


# --- Kafka ------------------------------------------------------------------------------------------------------


@dataclass
class Topics:
    group: str
    names: dict[str, str] = field(default_factory=dict)

    def settings(self) -> dict[str, Any]:
        return {
            "NOTIFIER_EMBEDDED_CONSUMER": True,
            "NOTIFIER_CONSUMER_GROUP": self.group,
            "NOTIFIER_TOPICS": ",".join(self.names.values()),
        }


@pytest.fixture
async def topics(kafka: Any) -> Topics:
    """Topics of this test only: the shared broker holds other tests' billing events under the real names."""
    suffix = uuid.uuid4().hex[:10]
    result = Topics(group=f"notifier-{suffix}", names={n: f"t.{n}.{suffix}" for n in TOPIC_NAMES})
    configs = [TopicConfig(name, 3) for name in result.names.values()] + [TopicConfig(dlq_topic(result.group), 1)]
    await ensure_topics(kafka.bootstrap_servers, configs, replication_factor=1)
    return result


async def publish(
    bootstrap: str,
    topic: str,
    payload: EventModel,
    *,
    event_id: str,
    source: str = "/stripe-gateway",
    times: int = 1,
    traceparent: str | None = None,
) -> None:
    event = to_cloud_event(payload, id=event_id, source=source, time=datetime.now(UTC))
    if traceparent is not None:
        event = dataclasses.replace(event, traceparent=traceparent)
    producer = create_producer(bootstrap, "notifier-tests")
    await producer.start()
    try:
        for _ in range(times):
            await producer.send_and_wait(
                topic,
                value=to_kafka_value(event),
                key=payload.partition_key().encode(),
                headers=to_kafka_headers(event),
            )
    finally:
        await producer.stop()


async def dead_letters(bootstrap: str, topic: str, *, expect: int = 0, timeout: float = 10.0) -> list[Any]:
    """Records on a dead-letter topic: until `expect` arrived or the time is up; with no `expect`, what 2 s bring."""
    return await read_records(bootstrap, topic, expect=expect, timeout=timeout, quiet=0 if expect else 2.0)


async def publish_raw(bootstrap: str, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    producer = create_producer(bootstrap, "notifier-tests")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=b"k", headers=headers)
    finally:
        await producer.stop()


# --- small stand-ins: the gateway's portal proxy and a chat webhook --------------------------------------------


@dataclass
class Recorder:
    app: SandboxApp
    url: str
    calls: list[dict[str, Any]]


@pytest.fixture
async def gateway() -> AsyncIterator[Recorder]:
    """Answers `POST /v1/billing-portal/sessions` like the gateway does (checks the key, needs Idempotency-Key)."""
    box = create_sandbox_app("gateway")
    calls: list[dict[str, Any]] = []

    async def portal(request: Request) -> Any:
        from fastapi.responses import JSONResponse

        body = json.loads(await request.body())
        calls.append({"headers": dict(request.headers), "body": body})
        if request.headers.get("x-internal-api-key") != GATEWAY_KEY:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        session = f"bps_{len(calls)}"
        return {"id": session, "url": f"https://billing.stripe.com/p/session/{session}", "customer": body["customer"]}

    box.api.add_api_route("/v1/billing-portal/sessions", portal, methods=["POST"])
    async with serve_in_background(box) as url:
        yield Recorder(box, url, calls)


@pytest.fixture
async def chat() -> AsyncIterator[Recorder]:
    """A Slack-compatible incoming webhook that records what it was sent."""
    box = create_sandbox_app("chat")
    calls: list[dict[str, Any]] = []

    async def hook(request: Request) -> Any:
        calls.append(json.loads(await request.body()))
        return {"ok": True}

    box.api.add_api_route("/services/T000/B000/XXXX", hook, methods=["POST"])
    async with serve_in_background(box) as url:
        yield Recorder(box, f"{url}/services/T000/B000/XXXX", calls)
