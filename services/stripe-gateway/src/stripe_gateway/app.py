"""The gateway's FastAPI app, built from settings (no globals): lifespan owns the pool, relay and probes."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from intplat_common import (
    KafkaProbe,
    OutboxRelay,
    connect_and_migrate,
    create_producer,
    install_common_routes,
    install_middleware_and_errors,
    instrument_app,
    postgres_check,
    setup_telemetry,
)

from .adapters.stripe_api import StripeApi
from .ip_allowlist import SourceIpPolicy, load_stripe_ips
from .routes import operations, sessions, webhooks
from .settings import GatewaySettings
from .storage import MIGRATIONS
from .storage.webhook_events import WebhookWriter

log = logging.getLogger(__name__)


def make_relay(pool: asyncpg.Pool, settings: GatewaySettings) -> OutboxRelay:
    return OutboxRelay(pool, lambda: create_producer(settings.kafka_bootstrap_servers, "stripe-gateway-relay"))


async def run_relay(settings: GatewaySettings) -> None:
    """The relay as a process of its own (`stripe-gateway relay`): the HTTP workers then spend no CPU on Kafka."""
    setup_telemetry(settings.service_name)
    pool = await connect_and_migrate(settings.database_url, MIGRATIONS)
    relay = make_relay(pool, settings)
    runner = asyncio.create_task(relay.run(), name="outbox-relay")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await relay.stop(runner)
        await pool.close()


def create_app(settings: GatewaySettings) -> FastAPI:
    setup_telemetry(settings.service_name)
    state: dict[str, Any] = {}
    webhook = webhooks.StripeWebhookEndpoint(
        settings,
        [s.get_secret_value().encode() for s in settings.webhook_secrets],
        SourceIpPolicy(
            enabled=settings.webhook_ip_allowlist,
            allowed=tuple(load_stripe_ips()) if settings.webhook_ip_allowlist else (),
            trusted_proxies=tuple(ipaddress.ip_network(p) for p in settings.trusted_proxies),
        ),
    )

    async def db_ready() -> None:
        await postgres_check(state["pool"])()

    async def kafka_ready() -> None:
        await state["kafka_probe"].check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await connect_and_migrate(settings.database_url, MIGRATIONS)
        relay = make_relay(pool, settings)
        relay_task = asyncio.create_task(relay.run(), name="outbox-relay") if settings.embedded_relay else None
        state.update(pool=pool, relay=relay, kafka_probe=KafkaProbe(settings.kafka_bootstrap_servers))
        writer = WebhookWriter(pool, max_batch=settings.writer_max_batch, writers=settings.writer_tasks)
        stripe_api = StripeApi(api_key=settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base)
        app.state.pool = pool
        app.state.relay = relay
        app.state.writer = writer
        webhook.writer = writer
        app.state.stripe = stripe_api
        try:
            yield
        finally:
            await writer.close()
            await stripe_api.close()
            if relay_task is not None:
                await relay.stop(relay_task)
            await state["kafka_probe"].close()
            await pool.close()

    app = FastAPI(
        title="stripe-gateway",
        version="0.1.0",
        description="Verifies Stripe webhooks, records each event once, publishes it to Kafka via an outbox.",
        lifespan=lifespan,
        # Spans come from the OpenTelemetry FastAPI instrumentation (instrument_app) and, for the webhook, from its
        # endpoint; FastAPI's own native telemetry would trace the same requests a second time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_middleware_and_errors(app)
    # POSTs reach the endpoint ahead of the middleware (below); the route answers other methods with 405.
    app.router.routes.insert(0, Route(webhooks.PATH, webhook, methods=["POST"]))
    _document_webhook_route(app)
    install_common_routes(app, {"postgres": db_ready, "kafka": kafka_ready})
    app.include_router(sessions.router)
    app.include_router(operations.router)
    instrument_app(app, traced_by_route=[webhooks.PATH])
    _dispatch_webhook_first(app, webhook)
    return app


def _dispatch_webhook_first(app: FastAPI, webhook: webhooks.StripeWebhookEndpoint) -> None:
    """`POST /webhooks/stripe` skips the middleware stack (seven layers, about a tenth of the CPU of a delivery).

    The endpoint makes its own span, correlation id and error answer, so nothing the stack adds is lost. Wrapping
    `build_middleware_stack` keeps the app a FastAPI app (lifespan, state, tests) with this dispatch outermost.
    """
    build = app.build_middleware_stack

    def build_with_dispatch() -> ASGIApp:
        stack = build()

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == webhooks.PATH:
                await webhook(scope, receive, send)
            else:
                await stack(scope, receive, send)

        return dispatch

    app.build_middleware_stack = build_with_dispatch  # type: ignore[method-assign]


def _document_webhook_route(app: FastAPI) -> None:
    """The webhook endpoint is plain ASGI (no FastAPI route), so its OpenAPI entry is added to the generated one."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        schema["paths"].setdefault(webhooks.PATH, webhooks.OPENAPI_PATH_ITEM)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
