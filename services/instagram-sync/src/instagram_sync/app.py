"""instagram-sync, declared once (see `SERVICE`).

Its components: the Graph client (both hosts, one breaker, the call budget shared in PostgreSQL), the stored
connections, the connect flow, the account sync, and its workers: `relay` (the outbox → Kafka), `consumer`
(subscription updates → tiers and schedule; sync requests → syncs), `scheduler` (due slots → sync requests, on
faust-streaming), `upkeep` (token refresh, reconnect reminders), `publisher` (scheduled posts) and `uptime` (Meta's
uptime probe, when provider probes are on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from fastapi import FastAPI

from intplat_common import ConsumerRunner, ConsumerSupervisor, OutboxRelay, UptimeProbe, UptimeProber, create_producer
from intplat_common.effects import EffectLedger, EffectWorker, EffectWorkerConfig
from intplat_common.service import Service, Worker, create_service_app

from .clock import Clock, utc_now
from .commands import ROTATE_CREDENTIALS
from .connect import ConnectFlow
from .connect_links import ConnectLinks
from .connections import Connection, Connections
from .consumers import EventContext, router
from .graph import CallBudget, GraphClient
from .periodic import Periodic
from .posts import POSTS, PostRow
from .publisher import PostPublisher, PublishOptions
from .routes import connect, dashboard, posts, webhooks
from .schedule import Periods
from .scheduler import Scheduler
from .settings import WORKERS, InstagramSyncSettings
from .state_metrics import measure
from .storage import MIGRATIONS
from .sync import AccountSync, SyncOptions
from .upkeep import TokenUpkeep


def graph_client(settings: InstagramSyncSettings, pool: asyncpg.Pool, clock: Clock) -> GraphClient:
    budget = CallBudget(
        pool,
        ceiling_percent=settings.usage_ceiling_percent,
        pause_seconds=settings.usage_pause_seconds,
        clock=clock,
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
        clock=clock,
    )


def sync_options(settings: InstagramSyncSettings) -> SyncOptions:
    return SyncOptions(
        api_version=settings.graph_api_version,
        account_metrics=settings.account_metrics,
        media_page_size=settings.media_page_size,
        media_max_pages=settings.media_max_pages,
    )


@dataclass
class InstagramComponents:
    """What the service runs around its pool; each attribute is also on `app.state`."""

    pool: asyncpg.Pool
    graph: GraphClient
    connections: Connections
    connect: ConnectFlow
    connect_links: ConnectLinks
    sync: AccountSync
    relay: OutboxRelay
    consumer: ConsumerSupervisor
    scheduler: Scheduler
    upkeep: Periodic
    publisher: EffectWorker[PostRow, Connection]
    uptime: UptimeProber
    clock: Clock

    @classmethod
    def build(
        cls, settings: InstagramSyncSettings, pool: asyncpg.Pool, *, clock: Clock = utc_now
    ) -> InstagramComponents:
        """`clock`: the service's now (tests pass the Meta sandbox's)."""
        cipher = settings.credential_cipher()
        graph = graph_client(settings, pool, clock)
        connections = Connections(pool, cipher)
        periods = Periods(hourly=settings.hourly_period_seconds, daily=settings.daily_period_seconds)
        sync = AccountSync(connections, graph, sync_options(settings), clock=clock)
        relay = OutboxRelay(pool, lambda: create_producer(settings.kafka_bootstrap_servers, "instagram-sync-relay"))
        context = EventContext(plans=settings.tier_plans, periods=periods, sync=sync, clock=clock)

        def new_runner() -> ConsumerRunner:
            return ConsumerRunner(
                group=settings.consumer_group,
                topics=router.topics,
                handler=router.handler(context),
                pool=pool,
                bootstrap_servers=settings.kafka_bootstrap_servers,
            )

        scheduler = Scheduler(
            pool,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            app_id=f"{settings.consumer_group}-scheduler",
            interval=settings.scheduler_poll_seconds,
            replication_factor=settings.kafka_replication_factor,
            clock=clock,
        )
        upkeep = TokenUpkeep(
            connections,
            graph,
            refresh_after=timedelta(hours=settings.refresh_after_hours),
            reminder_days=settings.reminder_days,
            clock=clock,
        )

        async def upkeep_round() -> None:
            # Measured first: a round that fails on Meta still leaves the gauges current.
            await measure(pool, clock())
            await upkeep.round()

        publish_options = PublishOptions(
            poll_seconds=settings.container_poll_seconds,
            poll_max_seconds=settings.container_poll_max_seconds,
            limit_wait_seconds=settings.publish_limit_wait_seconds,
        )
        publisher = EffectWorker(
            "instagram_posts",
            pool,
            EffectLedger(POSTS),
            PostPublisher(pool, connections, graph, publish_options, clock=clock),
            config=EffectWorkerConfig(batch_size=20, reconcile_delay_seconds=settings.container_poll_seconds),
            breakers=[graph.breaker],
        )
        return cls(
            pool,
            graph,
            connections,
            ConnectFlow(settings, cipher, graph, connections, periods, clock=clock),
            ConnectLinks(cipher, ttl=timedelta(seconds=settings.connect_link_seconds), clock=clock),
            sync,
            relay,
            ConsumerSupervisor(new_runner),
            scheduler,
            Periodic("upkeep", upkeep_round, settings.upkeep_poll_seconds),
            publisher,
            UptimeProber(
                [UptimeProbe("meta", graph.probe, graph.probe_client)],
                interval=settings.provider_probe_interval_seconds,
            ),
            clock,
        )

    def workers(self) -> Mapping[str, Worker]:
        # Started in this order, stopped in reverse: the relay publishes what the others recorded last.
        return {
            "relay": self.relay,
            "consumer": self.consumer,
            "scheduler": self.scheduler,
            "upkeep": self.upkeep,
            "publisher": self.publisher,
            "uptime": self.uptime,
        }

    async def aclose(self) -> None:
        await self.connect.aclose()
        await self.graph.aclose()


def embedded_workers(settings: InstagramSyncSettings) -> list[str]:
    # The uptime probe only while provider probes are on (in tests: only when asked).
    wanted = [name for name in WORKERS if name in settings.embedded_workers]
    return [name for name in wanted if name != "uptime" or settings.provider_probes_enabled]


SERVICE: Service[InstagramSyncSettings, InstagramComponents] = Service(
    name="instagram-sync",
    description="Connects clients' Instagram accounts; syncs their insights on schedule by tier, inside Meta's budget.",
    settings=InstagramSyncSettings,
    migrations=MIGRATIONS,
    build=InstagramComponents.build,
    routers=[connect.router, dashboard.router, posts.router, webhooks.router],
    event_router=router,
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
