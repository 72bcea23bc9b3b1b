"""The notifier, declared once (see `SERVICE`).

Its components: the Kafka consumer (billing and Instagram events → ledger rows), the sender loop (ledger rows →
Postmark), the Postmark breaker watch and the provider clients.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
from fastapi import FastAPI

from intplat_common import ConsumerRunner, ConsumerSupervisor, UptimeProbe, UptimeProber
from intplat_common.alerts import BreakerWatch, OpsAlerts
from intplat_common.service import Service, Worker, create_service_app

from .adapters.billing_portal import GatewayPortalLinks
from .adapters.bridge_documents import BridgeDocuments
from .adapters.postmark import PostmarkSender, postmark_client
from .adapters.stripe_customers import StripeCustomers
from .consumers import EventContext, router
from .rendering import Renderer
from .routes import emails, messages, postmark_webhooks
from .sender import Sender, SenderConfig
from .settings import NotifierSettings
from .storage import MIGRATIONS


def sender_config(settings: NotifierSettings) -> SenderConfig:
    return SenderConfig(
        batch_size=settings.sender_batch_size,
        poll_seconds=settings.sender_poll_seconds,
        linger_seconds=settings.sender_linger_seconds,
        lease_seconds=settings.send_lease_seconds,
        retry_base_seconds=settings.retry_base_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        reconcile_delay_seconds=settings.reconcile_delay_seconds,
        portal_link_wait_seconds=settings.portal_link_wait_seconds,
    )


@dataclass
class NotifierComponents:
    """What the notifier runs around its pool; each attribute is also on `app.state`."""

    pool: asyncpg.Pool
    postmark: PostmarkSender
    directory: StripeCustomers
    portal: GatewayPortalLinks
    documents: BridgeDocuments
    alerts: OpsAlerts
    sender: Sender
    watch: BreakerWatch
    consumer: ConsumerSupervisor
    uptime: UptimeProber

    @classmethod
    def build(cls, settings: NotifierSettings, pool: asyncpg.Pool) -> NotifierComponents:
        postmark_http = postmark_client(
            api_base=settings.postmark_api_base,
            server_token=settings.postmark_server_token.get_secret_value(),
            timeout=settings.postmark_timeout_seconds,
            max_attempts=settings.postmark_max_attempts,
            backoff_base=settings.postmark_backoff_base_seconds,
            breaker_fail_max=settings.postmark_breaker_fail_max,
            breaker_reset_seconds=settings.postmark_breaker_reset_seconds,
            breaker_first_reset_seconds=settings.postmark_breaker_first_reset_seconds,
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
        documents = BridgeDocuments(bridge_url=settings.lexoffice_bridge_url, api_key=settings.bridge_api_key())
        alerts = OpsAlerts.from_settings(settings)
        sender = Sender(
            pool,
            postmark,
            Renderer(),
            portal=portal,
            documents=documents,
            config=sender_config(settings),
            alert=alerts.alert,
            # When one closes, the mails waiting on it are due at once (Postmark, the gateway's portal links, the
            # bridge's documents).
            breakers=[postmark_http.breaker, portal.http.breaker, documents.http.breaker],
        )
        watch = BreakerWatch(
            postmark_http.breaker,
            alerts,
            threshold_seconds=settings.breaker_alert_after_seconds,
            interval_seconds=settings.breaker_watch_interval_seconds,
            meanwhile="mails are queued, not lost",
        )
        context = EventContext(
            directory=directory,
            default_locale=settings.default_locale,
            instagram_reconnect_url=settings.instagram_reconnect_url,
            recipient_wait_seconds=settings.recipient_wait_seconds,
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

        uptime = UptimeProber(
            [UptimeProbe.get("postmark", postmark_http, "/server")], interval=settings.provider_probe_interval_seconds
        )
        consumer = ConsumerSupervisor(new_runner)
        return cls(pool, postmark, directory, portal, documents, alerts, sender, watch, consumer, uptime)

    def workers(self) -> Mapping[str, Worker]:
        # Started in this order, stopped in reverse: the consumer finishes its batch and commits before the sender
        # finishes its round.
        return {"sender": self.sender, "breaker-watch": self.watch, "consumer": self.consumer, "uptime": self.uptime}

    async def aclose(self) -> None:
        self.watch.close()
        for client in (self.postmark.http, self.directory, self.portal, self.documents, self.alerts):
            with contextlib.suppress(Exception):
                await client.aclose()


def embedded_workers(settings: NotifierSettings) -> list[str]:
    names = ["sender", "breaker-watch"] if settings.embedded_sender else []
    names = [*names, "consumer"] if settings.embedded_consumer else names
    return [*names, "uptime"] if settings.embedded_sender and settings.provider_probes_enabled else names


SERVICE: Service[NotifierSettings, NotifierComponents] = Service(
    name="notifier",
    description="Transactional e-mail through Postmark from billing events and an internal API: never twice, "
    "never lost.",
    settings=NotifierSettings,
    migrations=MIGRATIONS,
    build=NotifierComponents.build,
    routers=[emails.router, messages.router, postmark_webhooks.router],
    event_router=router,
    workers=["sender", "breaker-watch", "consumer", "uptime"],
    embedded=embedded_workers,
    worker_aliases={"sender": ["sender", "breaker-watch", "uptime"]},
    dev_processes={"notifier": "notifier serve"},
    database="notifier",
    consumer_groups=["notifier"],
    sandboxes={"postmark-sandbox": ("POSTMARK_API_BASE", "postmark-sandbox")},
)


def create_app(settings: NotifierSettings) -> FastAPI:
    return create_service_app(SERVICE, settings)
