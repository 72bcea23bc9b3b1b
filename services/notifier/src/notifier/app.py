"""The notifier's FastAPI app, built from settings (no globals).

The lifespan owns the pool, the Kafka consumer (billing and Instagram events → ledger rows), the sender loop
(ledger rows → Postmark), the Postmark breaker watch and the provider clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from fastapi import FastAPI

from intplat_common import (
    ConsumerRunner,
    ConsumerSupervisor,
    KafkaProbe,
    connect_and_migrate,
    install_common_routes,
    install_middleware_and_errors,
    instrument_app,
    postgres_check,
    setup_telemetry,
)

from .adapters.billing_portal import GatewayPortalLinks
from .adapters.postmark import PostmarkSender, postmark_client
from .adapters.stripe_customers import StripeCustomers
from .alerts import BreakerWatch, OpsAlerts
from .consumers import EventContext, router
from .rendering import Renderer
from .routes import emails, messages, postmark_webhooks
from .sender import Sender, SenderConfig
from .settings import NotifierSettings
from .storage import MIGRATIONS

log = logging.getLogger(__name__)


def sender_config(settings: NotifierSettings) -> SenderConfig:
    return SenderConfig(
        batch_size=settings.sender_batch_size,
        poll_seconds=settings.sender_poll_seconds,
        linger_seconds=settings.sender_linger_seconds,
        lease_seconds=settings.send_lease_seconds,
        retry_base_seconds=settings.retry_base_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        reconcile_delay_seconds=settings.reconcile_delay_seconds,
    )


@dataclass
class Services:
    """Everything the notifier runs besides HTTP, built from settings around one pool."""

    pool: asyncpg.Pool
    postmark: PostmarkSender
    directory: StripeCustomers
    portal: GatewayPortalLinks
    alerts: OpsAlerts
    sender: Sender
    watch: BreakerWatch
    consumer: ConsumerSupervisor
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: NotifierSettings, pool: asyncpg.Pool) -> Services:
        postmark_http = postmark_client(
            api_base=settings.postmark_api_base,
            server_token=settings.postmark_server_token.get_secret_value(),
            timeout=settings.postmark_timeout_seconds,
            max_attempts=settings.postmark_max_attempts,
            backoff_base=settings.postmark_backoff_base_seconds,
            breaker_fail_max=settings.postmark_breaker_fail_max,
            breaker_reset_seconds=settings.postmark_breaker_reset_seconds,
        )
        postmark = PostmarkSender(
            postmark_http, sender=settings.mail_from, message_stream=settings.postmark_message_stream
        )
        directory = StripeCustomers(
            api_base=settings.stripe_api_base, api_key=settings.stripe_api_key.get_secret_value()
        )
        portal = GatewayPortalLinks(
            gateway_url=settings.stripe_gateway_url,
            api_key=settings.gateway_api_key(),
            return_url=settings.billing_portal_return_url,
            fallback_url=settings.billing_portal_fallback_url,
        )
        alerts = OpsAlerts(
            settings.ops_alert_webhook_url,
            min_interval_seconds=settings.ops_alert_min_interval_seconds,
            service=settings.service_name,
        )
        sender = Sender(pool, postmark, Renderer(), portal=portal, config=sender_config(settings), alert=alerts.alert)
        watch = BreakerWatch(
            postmark_http.breaker,
            alerts,
            threshold_seconds=settings.breaker_alert_after_seconds,
            interval_seconds=settings.breaker_watch_interval_seconds,
        )
        context = EventContext(
            directory=directory,
            default_locale=settings.default_locale,
            instagram_reconnect_url=settings.instagram_reconnect_url,
        )

        def new_runner() -> ConsumerRunner:
            runner = ConsumerRunner(
                group=settings.consumer_group,
                topics=settings.topics,
                handler=router.handler(context),
                pool=pool,
                bootstrap_servers=settings.kafka_bootstrap_servers,
            )
            runner.on_dead_letter = alerts.on_dead_letter
            return runner

        return cls(pool, postmark, directory, portal, alerts, sender, watch, ConsumerSupervisor(new_runner))

    def start(self, *, consumer: bool, sender: bool) -> None:
        if sender:
            self.tasks["sender"] = asyncio.create_task(self.sender.run(), name="notifier-sender")
            self.tasks["breaker-watch"] = asyncio.create_task(self.watch.run(), name="breaker-watch")
        if consumer:
            self.tasks["consumer"] = asyncio.create_task(self.consumer.run(), name="notifier-consumer")

    async def close(self) -> None:
        """Graceful: the consumer finishes its batch and commits, the sender finishes its round, clients close."""
        if "consumer" in self.tasks:
            await self.consumer.stop(self.tasks["consumer"])
        if "sender" in self.tasks:
            await self.sender.stop(self.tasks["sender"])
        if "breaker-watch" in self.tasks:
            self.tasks["breaker-watch"].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.tasks["breaker-watch"]
        self.watch.close()
        for client in (self.postmark.http, self.directory, self.portal, self.alerts):
            with contextlib.suppress(Exception):
                await client.aclose()


async def run_sender(settings: NotifierSettings) -> None:
    """The sender loop as a process of its own (`notifier sender`, with NOTIFIER_EMBEDDED_SENDER=false on `serve`):
    rendering and Postmark calls then take no CPU from the consumer."""
    setup_telemetry(settings.service_name)
    pool = await connect_and_migrate(settings.database_url, MIGRATIONS)
    services = Services.build(settings, pool)
    services.start(consumer=False, sender=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await services.close()
        await pool.close()


def create_app(settings: NotifierSettings) -> FastAPI:
    setup_telemetry(settings.service_name)
    state: dict[str, Any] = {}

    async def db_ready() -> None:
        await postgres_check(state["pool"])()

    async def kafka_ready() -> None:
        await state["kafka_probe"].check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await connect_and_migrate(settings.database_url, MIGRATIONS)
        state.update(pool=pool, kafka_probe=KafkaProbe(settings.kafka_bootstrap_servers))
        services = Services.build(settings, pool)
        services.start(consumer=settings.embedded_consumer, sender=settings.embedded_sender)
        app.state.pool = pool
        app.state.services = services
        app.state.sender = services.sender
        app.state.postmark = services.postmark
        app.state.consumer = services.consumer
        try:
            yield
        finally:
            await services.close()
            await state["kafka_probe"].close()
            await pool.close()

    app = FastAPI(
        title="notifier",
        version="0.1.0",
        description="Transactional e-mail through Postmark from billing events and an internal API: never twice, "
        "never lost.",
        lifespan=lifespan,
        # Spans come from the OpenTelemetry FastAPI instrumentation (instrument_app); FastAPI's own native telemetry
        # would trace the same requests a second time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_middleware_and_errors(app)
    install_common_routes(app, {"postgres": db_ready, "kafka": kafka_ready})
    app.include_router(emails.router)
    app.include_router(messages.router)
    app.include_router(postmark_webhooks.router)
    instrument_app(app)
    return app
