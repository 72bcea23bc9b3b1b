"""instagram-sync, declared once (see `SERVICE`).

Its components: the Graph client (both hosts, one breaker, the call budget shared in PostgreSQL), the stored
connections, the connect flow, and its workers: `relay` (the outbox → Kafka).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
from fastapi import FastAPI

from intplat_common import OutboxRelay, create_producer
from intplat_common.service import Service, Worker, create_service_app

from .commands import ROTATE_CREDENTIALS
from .connect import ConnectFlow
from .connections import Connections
from .graph import CallBudget, GraphClient
from .routes import connect
from .settings import InstagramSyncSettings
from .storage import MIGRATIONS


def graph_client(settings: InstagramSyncSettings, pool: asyncpg.Pool) -> GraphClient:
    budget = CallBudget(
        pool, ceiling_percent=settings.usage_ceiling_percent, pause_seconds=settings.usage_pause_seconds
    )
    return GraphClient(
        facebook_base=settings.meta_graph_api_base,
        instagram_base=settings.instagram_graph_base,
        version=settings.graph_api_version,
        app_id=settings.meta_app_id,
        app_secret=settings.meta_app_secret.get_secret_value(),
        budget=budget,
        timeout=settings.graph_timeout_seconds,
        max_attempts=settings.graph_max_attempts,
        backoff_base=settings.graph_backoff_base_seconds,
        breaker_fail_max=settings.graph_breaker_fail_max,
        breaker_reset_seconds=settings.graph_breaker_reset_seconds,
    )


@dataclass
class InstagramComponents:
    """What the service runs around its pool; each attribute is also on `app.state`."""

    pool: asyncpg.Pool
    graph: GraphClient
    connections: Connections
    connect: ConnectFlow
    relay: OutboxRelay

    @classmethod
    def build(cls, settings: InstagramSyncSettings, pool: asyncpg.Pool) -> InstagramComponents:
        cipher = settings.credential_cipher()
        graph = graph_client(settings, pool)
        connections = Connections(pool, cipher)
        relay = OutboxRelay(pool, lambda: create_producer(settings.kafka_bootstrap_servers, "instagram-sync-relay"))
        return cls(pool, graph, connections, ConnectFlow(settings, cipher, graph, connections), relay)

    def workers(self) -> Mapping[str, Worker]:
        return {"relay": self.relay}

    async def aclose(self) -> None:
        await self.connect.aclose()
        await self.graph.aclose()


def embedded_workers(settings: InstagramSyncSettings) -> list[str]:
    return [name for name in WORKERS if name in settings.embedded_workers]


WORKERS = ("relay",)

SERVICE: Service[InstagramSyncSettings, InstagramComponents] = Service(
    name="instagram-sync",
    description="Connects clients' Instagram accounts; syncs their insights on schedule by tier, inside Meta's budget.",
    settings=InstagramSyncSettings,
    migrations=MIGRATIONS,
    build=InstagramComponents.build,
    routers=[connect.router],
    workers=WORKERS,
    embedded=embedded_workers,
    commands=[ROTATE_CREDENTIALS],
    dev_processes={"instagram-sync": "instagram-sync serve"},
    sandboxes={"meta-sandbox": ("META_GRAPH_API_BASE", "meta-sandbox")},
    database="instagram_sync",
    consumer_groups=["instagram-sync"],
)


def create_app(settings: InstagramSyncSettings) -> FastAPI:
    return create_service_app(SERVICE, settings)
