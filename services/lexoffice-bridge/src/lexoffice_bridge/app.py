"""lexoffice-bridge, declared once (see `SERVICE`).

Its components: the Lexoffice client, paced by a token bucket in PostgreSQL that every process and replica using
the same API key shares; the verifier of Lexoffice's signed callbacks; three booking workers: `consumer` (billing
events → effect rows and ledger rows), `booker` (effect rows → Lexoffice) and `relay` (the outbox → Kafka); and the
payment-status workers (status_workers.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
from fastapi import FastAPI

from intplat_common import (
    Authorization,
    BearerToken,
    ConsumerRunner,
    ConsumerSupervisor,
    OutboxRelay,
    PgTokenBucket,
    UptimeProbe,
    UptimeProber,
    create_producer,
)
from intplat_common.alerts import OpsAlerts
from intplat_common.credentials import rotate_credentials_command
from intplat_common.effects import EffectWorkerConfig
from intplat_common.service import Service, Worker, create_service_app

from . import admin
from .access import AccessGate, credential_digest
from .admin.command import HASH_PASSWORD
from .booker import Booker
from .client import LexofficeClient, lexoffice_http
from .consumers import EventContext, router
from .oauth import LexofficeOAuth, oauth_credential_id, partner_mode
from .oauth import router as oauth_routes
from .pdfs import InvoicePdfs
from .reconcile_cli import reconcile_command
from .routes import documents, webhooks
from .settings import LexofficeBridgeSettings
from .status_workers import STATUS_WORKERS, StatusWorkers
from .storage import MIGRATIONS
from .webhook_signature import WebhookVerifier


def credential_id(settings: LexofficeBridgeSettings) -> str:
    """The credential's name in our tables: the API key's, or in partner mode the client's."""
    if settings.lexoffice_auth_mode == "oauth":
        return oauth_credential_id(settings)
    return credential_digest(settings.lexoffice_api_key.get_secret_value())


def rate_limit_bucket(pool: asyncpg.Pool, settings: LexofficeBridgeSettings) -> PgTokenBucket:
    """Lexoffice limits per API key (partner mode: per client): the bucket is named after it."""
    return PgTokenBucket(pool, f"lexoffice:{credential_id(settings)}", rate=settings.lexoffice_pace_per_second)


def booker_config(settings: LexofficeBridgeSettings) -> EffectWorkerConfig:
    return EffectWorkerConfig(
        batch_size=50,
        poll_seconds=settings.booker_poll_seconds,
        lease_seconds=settings.booker_lease_seconds,
        retry_base_seconds=settings.retry_base_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        reconcile_delay_seconds=settings.reconcile_delay_seconds,
    )


def lexoffice_client(
    settings: LexofficeBridgeSettings,
    bucket: PgTokenBucket,
    access: AccessGate | None = None,
    authorization: Authorization | None = None,
) -> LexofficeClient:
    """`authorization`: partner mode's (see `oauth`); by default the API key as Bearer."""
    http = lexoffice_http(
        api_base=settings.lexoffice_api_base,
        authorization=authorization or BearerToken(settings.lexoffice_api_key.get_secret_value()),
        limiter=bucket,
        timeout=settings.lexoffice_timeout_seconds,
        connect_timeout=settings.lexoffice_connect_timeout_seconds,
        max_attempts=settings.lexoffice_max_attempts,
        backoff_base=settings.lexoffice_backoff_base_seconds,
        breaker_fail_max=settings.lexoffice_breaker_fail_max,
        breaker_reset_seconds=settings.lexoffice_breaker_reset_seconds,
        breaker_first_reset_seconds=settings.lexoffice_breaker_first_reset_seconds,
    )
    return LexofficeClient(
        http,
        posting_categories_ttl=settings.lexoffice_posting_categories_ttl_seconds,
        access=access.check if access is not None else None,
    )


@dataclass
class BridgeComponents:
    """What the bridge runs around its pool; each attribute is also on `app.state`."""

    pool: asyncpg.Pool
    rate_limit: PgTokenBucket
    lexoffice: LexofficeClient
    webhook_verifier: WebhookVerifier | None  # None: no key configured, every callback is refused
    pdfs: InvoicePdfs
    alerts: OpsAlerts
    booker: Booker
    relay: OutboxRelay
    consumer: ConsumerSupervisor
    status: StatusWorkers
    oauth: LexofficeOAuth | None  # partner mode's connection (None with an API key)
    uptime: UptimeProber

    @classmethod
    def build(cls, settings: LexofficeBridgeSettings, pool: asyncpg.Pool) -> BridgeComponents:
        bucket = rate_limit_bucket(pool, settings)
        key = settings.lexoffice_webhook_public_key
        access = AccessGate(pool, credential_id(settings))
        oauth = partner_mode(settings, pool)
        lexoffice = lexoffice_client(settings, bucket, access, oauth.authorization if oauth else None)
        pdfs = InvoicePdfs(base=settings.pdf_base, timeout=settings.pdf_timeout_seconds)
        alerts = OpsAlerts.from_settings(settings)
        booker = Booker(
            pool,
            lexoffice,
            pdfs,
            rules=settings.booking_rules,
            bridge_url=settings.bridge_url,
            config=booker_config(settings),
            alert=alerts.alert,
            # When Lexoffice's breaker closes again, every booking backing off is due at once.
            breakers=[lexoffice.http.breaker],
        )
        relay = OutboxRelay(pool, lambda: create_producer(settings.kafka_bootstrap_servers, "lexoffice-bridge-relay"))
        context = EventContext(alert=alerts.alert, tax_policy=settings.tax_policy)

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

        verifier = WebhookVerifier(key) if key else None
        status = StatusWorkers.build(settings, pool, lexoffice, access, alerts.alert)
        consumer = ConsumerSupervisor(new_runner)
        uptime = UptimeProber(
            [UptimeProbe("lexoffice", lexoffice.profile, lexoffice.http)],
            interval=settings.provider_probe_interval_seconds,
        )
        return cls(pool, bucket, lexoffice, verifier, pdfs, alerts, booker, relay, consumer, status, oauth, uptime)

    def workers(self) -> Mapping[str, Worker]:
        # Started in this order, stopped in reverse: the consumer finishes its batch before the booker its round,
        # and the relay publishes what the booker recorded last.
        workers: dict[str, Worker] = {"relay": self.relay, "booker": self.booker, "consumer": self.consumer}
        return {**workers, **self.status.workers(), "uptime": self.uptime}

    async def aclose(self) -> None:
        for client in (self.lexoffice, self.pdfs, self.alerts, self.oauth):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()


def embedded_workers(settings: LexofficeBridgeSettings) -> list[str]:
    names = ["relay", "booker"] if settings.embedded_booker else []
    names = [*names, "consumer"] if settings.embedded_consumer else names
    names = [*names, *STATUS_WORKERS] if settings.embedded_status else names
    return [*names, "uptime"] if settings.embedded_booker and settings.provider_probes_enabled else names


SERVICE: Service[LexofficeBridgeSettings, BridgeComponents] = Service(
    name="lexoffice-bridge",
    description="Books every paid Stripe sale in Lexoffice exactly once, with its PDF, at the rate-limit ceiling.",
    settings=LexofficeBridgeSettings,
    migrations=MIGRATIONS,
    build=BridgeComponents.build,
    routers=[webhooks.router, documents.router, admin.router, oauth_routes],
    event_router=router,
    workers=["relay", "booker", "consumer", *STATUS_WORKERS, "uptime"],
    embedded=embedded_workers,
    commands=[HASH_PASSWORD, reconcile_command(BridgeComponents.build), rotate_credentials_command()],
    dev_processes={"lexoffice-bridge": "lexoffice-bridge serve"},
    sandboxes={
        "lexoffice-sandbox": ("LEXOFFICE_API_BASE", "lexoffice-sandbox"),
        "stripe-files-sandbox": ("LEXOFFICE_BRIDGE_PDF_BASE", "stripe-files-sandbox"),
    },
    dev_environment={"LEXOFFICE_BRIDGE_PDF_BASE": "http://127.0.0.1:8104"},
    database="lexoffice_bridge",
    consumer_groups=["lexoffice-bridge"],
)


def create_app(settings: LexofficeBridgeSettings) -> FastAPI:
    return create_service_app(SERVICE, settings)
