"""lexoffice-bridge, declared once (see `SERVICE`).

Its components: the Lexoffice client, paced by a token bucket in PostgreSQL that every process and replica using
the same API key shares, and the verifier of Lexoffice's signed callbacks. The booking consumer and the effect
worker come next.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
from fastapi import FastAPI

from intplat_common import PgTokenBucket
from intplat_common.service import Service, Worker, create_service_app

from .client import LexofficeClient, lexoffice_http
from .routes import webhooks
from .settings import LexofficeBridgeSettings
from .storage import MIGRATIONS
from .webhook_signature import WebhookVerifier


def rate_limit_bucket(pool: asyncpg.Pool, settings: LexofficeBridgeSettings) -> PgTokenBucket:
    """Lexoffice limits per API key: the bucket is named after the key (a digest: the key itself is not stored)."""
    digest = hashlib.sha256(settings.lexoffice_api_key.get_secret_value().encode()).hexdigest()[:16]
    return PgTokenBucket(pool, f"lexoffice:{digest}", rate=settings.lexoffice_pace_per_second)


def lexoffice_client(settings: LexofficeBridgeSettings, bucket: PgTokenBucket) -> LexofficeClient:
    http = lexoffice_http(
        api_base=settings.lexoffice_api_base,
        api_key=settings.lexoffice_api_key.get_secret_value(),
        limiter=bucket,
        timeout=settings.lexoffice_timeout_seconds,
        connect_timeout=settings.lexoffice_connect_timeout_seconds,
        max_attempts=settings.lexoffice_max_attempts,
        backoff_base=settings.lexoffice_backoff_base_seconds,
        breaker_fail_max=settings.lexoffice_breaker_fail_max,
        breaker_reset_seconds=settings.lexoffice_breaker_reset_seconds,
        breaker_first_reset_seconds=settings.lexoffice_breaker_first_reset_seconds,
    )
    return LexofficeClient(http, posting_categories_ttl=settings.lexoffice_posting_categories_ttl_seconds)


@dataclass
class BridgeComponents:
    """What the bridge runs around its pool; each attribute is also on `app.state`."""

    pool: asyncpg.Pool
    rate_limit: PgTokenBucket
    lexoffice: LexofficeClient
    webhook_verifier: WebhookVerifier | None  # None: no key configured, every callback is refused

    @classmethod
    def build(cls, settings: LexofficeBridgeSettings, pool: asyncpg.Pool) -> BridgeComponents:
        bucket = rate_limit_bucket(pool, settings)
        key = settings.lexoffice_webhook_public_key
        return cls(pool, bucket, lexoffice_client(settings, bucket), WebhookVerifier(key) if key else None)

    def workers(self) -> Mapping[str, Worker]:
        return {}

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.lexoffice.aclose()


SERVICE: Service[LexofficeBridgeSettings, BridgeComponents] = Service(
    name="lexoffice-bridge",
    description="Books every paid Stripe sale in Lexoffice exactly once, with its PDF, at the rate-limit ceiling.",
    settings=LexofficeBridgeSettings,
    migrations=MIGRATIONS,
    build=BridgeComponents.build,
    routers=[webhooks.router],
    dev_processes={"lexoffice-bridge": "lexoffice-bridge serve"},
    sandboxes={"lexoffice-sandbox": ("LEXOFFICE_API_BASE", "lexoffice-sandbox")},
    database="lexoffice_bridge",
    consumer_groups=["lexoffice-bridge"],
)


def create_app(settings: LexofficeBridgeSettings) -> FastAPI:
    return create_service_app(SERVICE, settings)
