"""The gateway, declared once: its components, fast webhook path, routes, workers and commands (see `SERVICE`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
from fastapi import FastAPI

from intplat_common import OutboxRelay, UptimeProbe, UptimeProber, create_producer
from intplat_common.service import FastPath, Service, Worker, app_from_environment, create_service_app

from . import commands
from .adapters.stripe_api import StripeApi
from .ip_allowlist import SourceIpPolicy, load_stripe_ips
from .routes import operations, sessions, webhooks
from .settings import GatewaySettings
from .storage import MIGRATIONS
from .storage.webhook_events import WebhookWriter


@dataclass
class GatewayComponents:
    """What the gateway runs around its pool; each attribute is also on `app.state`."""

    pool: asyncpg.Pool
    relay: OutboxRelay
    writer: WebhookWriter
    stripe: StripeApi
    uptime: UptimeProber

    @classmethod
    def build(cls, settings: GatewaySettings, pool: asyncpg.Pool) -> GatewayComponents:
        stripe = StripeApi(api_key=settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base)
        return cls(
            pool=pool,
            relay=OutboxRelay(pool, lambda: create_producer(settings.kafka_bootstrap_servers, "stripe-gateway-relay")),
            writer=WebhookWriter(pool, max_batch=settings.writer_max_batch, writers=settings.writer_tasks),
            stripe=stripe,
            uptime=UptimeProber(
                [UptimeProbe("stripe", stripe.probe, stripe.http)], interval=settings.provider_probe_interval_seconds
            ),
        )

    def workers(self) -> Mapping[str, Worker]:
        return {"relay": self.relay, "uptime": self.uptime}

    async def aclose(self) -> None:
        await self.writer.close()
        await self.stripe.close()


def webhook_path(settings: GatewaySettings) -> FastPath[GatewayComponents]:
    """`POST /webhooks/stripe` ahead of the middleware stack, built with the app's writer."""
    policy = SourceIpPolicy(
        enabled=settings.webhook_ip_allowlist,
        allowed=tuple(load_stripe_ips()) if settings.webhook_ip_allowlist else (),
        trusted_proxies=tuple(ipaddress.ip_network(p) for p in settings.trusted_proxies),
    )
    secrets = [s.get_secret_value().encode() for s in settings.webhook_secrets]
    return FastPath(
        webhooks.PATH,
        "POST",
        lambda components: webhooks.StripeWebhookEndpoint(settings, secrets, policy, components.writer),
        webhooks.OPENAPI_PATH_ITEM,
    )


def embedded_workers(settings: GatewaySettings) -> list[str]:
    names = ["relay"] if settings.embedded_relay else []
    return [*names, "uptime"] if settings.provider_probes_enabled else names


SERVICE: Service[GatewaySettings, GatewayComponents] = Service(
    name="stripe-gateway",
    description="Verifies Stripe webhooks, records each event once, publishes it to Kafka via an outbox.",
    settings=GatewaySettings,
    migrations=MIGRATIONS,
    build=GatewayComponents.build,
    routers=[sessions.router, operations.router],
    fast_paths=lambda settings: [webhook_path(settings)],
    workers=["relay", "uptime"],
    embedded=embedded_workers,
    worker_aliases={"relay": ["relay"]},
    commands=commands.COMMANDS,
    http_processes=lambda settings: settings.workers,
    app_factory="stripe_gateway.app:app_from_env",
    # The relay runs as its own process, as in production: HTTP workers spend no CPU on Kafka.
    dev_processes={
        "stripe-gateway": "env STRIPE_GATEWAY_EMBEDDED_RELAY=false stripe-gateway serve",
        "stripe-gateway-relay": "stripe-gateway worker relay",
    },
    database="stripe_gateway",
)


def create_app(settings: GatewaySettings) -> FastAPI:
    return create_service_app(SERVICE, settings)


def app_from_env() -> FastAPI:
    return app_from_environment(SERVICE)
