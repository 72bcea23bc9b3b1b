"""The platform as `make run` lays it out (each worker a process of its own), wired through toxiproxy: PostgreSQL,
the Lexoffice and Postmark sandboxes are reached through a proxy each; Kafka directly (its clients follow the
addresses the broker advertises, which are not the proxy's)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from intplat_devstack.infra import KafkaServer, PostgresServer
from intplat_devstack.paths import free_port
from intplat_devstack.stripe_mock import stripe_mock_command

from intplat_common import TopicConfig, dlq_topic, ensure_topics
from intplat_common.credentials import EncryptionKey
from intplat_common.events import TOPICS, BookkeepingDocumentSynced

from .._infra import ROOT, fresh_database, infrastructure, wait_ready
from .toxiproxy import Toxiproxy

WEBHOOK_SECRET = "whsec_chaos"  # noqa: S105 - this run's own secrets, nothing outside it
INTERNAL_KEY = "chaos-internal-key"
LEXOFFICE_KEY = "chaos-lexoffice-key"
POSTMARK_TOKEN = "chaos-postmark-token"  # noqa: S105
GROUPS = {"lexoffice-bridge": "lexoffice-bridge", "notifier": "notifier", "instagram-sync": "instagram-sync"}
# The bridge paces Lexoffice calls at the configured limit; the sandbox enforces the same one. Raised from Lexoffice's
# 2 req/s so that the steady load is not queued behind the rate limit for the whole run.
LEXOFFICE_RATE = "100"
INSTAGRAM_KEYS = EncryptionKey.generate("chaos1").entry()  # this run's own, for the stored Instagram tokens
INSTAGRAM_PLAN = "pro_monthly"  # the lookup key of stripe-mock's fixture price (the subscriptions the run sends)
INSTAGRAM_PERIOD_SECONDS = 5
# Every instagram-sync worker as a process of its own (uptime is off: provider probes are off in tests).
INSTAGRAM_WORKERS = ("consumer", "relay", "scheduler", "upkeep", "publisher")


@dataclass
class Component:
    """One process of the platform, restartable after a kill."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            self.command, env={**os.environ, **self.env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Platform:
    kafka: KafkaServer
    postgres: PostgresServer
    toxiproxy: Toxiproxy
    databases: dict[str, str]  # service -> DSN (through the PostgreSQL proxy)
    urls: dict[str, str]  # gateway, bridge, notifier, lexoffice, postmark, stripe (direct, for control calls)
    components: dict[str, Component] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap_servers


def _through(dsn: str, port: int) -> str:
    head, _, tail = dsn.rpartition("@")
    database = tail.partition("/")[2]
    return f"{head}@127.0.0.1:{port}/{database}"


async def _topics(bootstrap: str) -> None:
    topics = [TopicConfig(spec.name, spec.partitions) for spec in TOPICS.values()]
    topics += [TopicConfig(dlq_topic(group), 1) for group in GROUPS.values()]
    await ensure_topics(bootstrap, topics, replication_factor=1)


@asynccontextmanager
async def running_platform(logs: Path) -> AsyncIterator[Platform]:
    async with infrastructure() as (kafka, postgres):
        toxiproxy = Toxiproxy()
        await toxiproxy.start()
        platform = Platform(kafka, postgres, toxiproxy, {}, {})
        try:
            await _start(platform, logs)
            yield platform
        finally:
            for component in reversed(platform.components.values()):
                component.stop()
            await toxiproxy.close()


def _postgres_port(postgres: PostgresServer) -> int:
    return int(postgres.dsn().rpartition("@")[2].partition("/")[0].rpartition(":")[2])


async def _start(platform: Platform, logs: Path) -> None:
    """Fills in `platform` as it starts each part (so that a failed start still stops what did start)."""
    kafka, postgres, toxiproxy = platform.kafka, platform.postgres, platform.toxiproxy
    await _topics(kafka.bootstrap_servers)
    pg_proxy = await toxiproxy.proxy("postgres", _postgres_port(postgres))
    names = ("gateway", "bridge", "notifier", "instagram")
    direct = dict(zip(names, await asyncio.gather(*(fresh_database(postgres) for _ in names)), strict=True))
    platform.databases.update({name: _through(dsn, pg_proxy) for name, dsn in direct.items()})
    databases = platform.databases
    ports = {
        name: free_port()
        for name in ("gateway", "bridge", "notifier", "instagram", "lexoffice", "postmark", "meta", "stripe")
    }
    lexoffice_proxy = await toxiproxy.proxy("lexoffice", ports["lexoffice"])
    postmark_proxy = await toxiproxy.proxy("postmark", ports["postmark"])
    platform.urls.update({name: f"http://127.0.0.1:{port}" for name, port in ports.items()})
    urls = platform.urls

    def add(name: str, command: list[str], env: dict[str, str]) -> None:
        platform.components[name] = Component(name, command, env, logs / f"{name}.log")

    common = {
        "INTPLAT_ENVIRONMENT": "test",
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "INTERNAL_API_KEYS": INTERNAL_KEY,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",  # a killed process loses no log line
        "STRIPE_API_BASE": urls["stripe"],
    }
    add("stripe-mock", stripe_mock_command(ports["stripe"]), {})
    add(
        "lexoffice-sandbox",
        ["lexoffice-sandbox"],
        {
            "LEXOFFICE_SANDBOX_PORT": str(ports["lexoffice"]),
            "LEXOFFICE_API_KEY": LEXOFFICE_KEY,
            "LEXOFFICE_SANDBOX_RATE_PER_SECOND": LEXOFFICE_RATE,
        },
    )
    add(
        "postmark-sandbox",
        ["postmark-sandbox"],
        {
            "POSTMARK_SANDBOX_PORT": str(ports["postmark"]),
            "POSTMARK_SERVER_TOKEN": POSTMARK_TOKEN,
            "POSTMARK_SANDBOX_WEBHOOK_URL": "",
        },
    )
    add("meta-sandbox", ["meta-sandbox"], {"META_SANDBOX_PORT": str(ports["meta"]), "META_SANDBOX_WEBHOOK_URL": ""})
    gateway = {
        **common,
        "STRIPE_GATEWAY_DATABASE_URL": databases["gateway"],
        "STRIPE_GATEWAY_PORT": str(ports["gateway"]),
        "STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET,
        "STRIPE_GATEWAY_EMBEDDED_RELAY": "false",
    }
    bridge = {
        **common,
        "LEXOFFICE_BRIDGE_DATABASE_URL": databases["bridge"],
        "LEXOFFICE_BRIDGE_PORT": str(ports["bridge"]),
        "LEXOFFICE_BRIDGE_URL": urls["bridge"],
        "LEXOFFICE_API_BASE": f"http://127.0.0.1:{lexoffice_proxy}",
        "LEXOFFICE_API_KEY": LEXOFFICE_KEY,
        "LEXOFFICE_RATE_LIMIT_PER_SECOND": LEXOFFICE_RATE,
        "LEXOFFICE_BRIDGE_BOOKER_POLL_SECONDS": "0.2",
        "LEXOFFICE_BRIDGE_EMBEDDED_CONSUMER": "false",
        "LEXOFFICE_BRIDGE_EMBEDDED_BOOKER": "false",
        "LEXOFFICE_BRIDGE_EMBEDDED_STATUS": "false",
    }
    notifier = {
        **common,
        "NOTIFIER_DATABASE_URL": databases["notifier"],
        "NOTIFIER_PORT": str(ports["notifier"]),
        "NOTIFIER_TOPICS": BookkeepingDocumentSynced.TOPIC,
        "NOTIFIER_SENDER_POLL_SECONDS": "0.2",
        "POSTMARK_API_BASE": f"http://127.0.0.1:{postmark_proxy}",
        "POSTMARK_SERVER_TOKEN": POSTMARK_TOKEN,
        "LEXOFFICE_BRIDGE_URL": urls["bridge"],
        "NOTIFIER_EMBEDDED_CONSUMER": "false",
        "NOTIFIER_EMBEDDED_SENDER": "false",
    }
    instagram = {
        **common,
        "INSTAGRAM_SYNC_DATABASE_URL": databases["instagram"],
        "INSTAGRAM_SYNC_PORT": str(ports["instagram"]),
        "INSTAGRAM_SYNC_PUBLIC_URL": urls["instagram"],
        "META_GRAPH_API_BASE": urls["meta"],
        "CREDENTIALS_ENCRYPTION_KEYS": INSTAGRAM_KEYS,
        "INSTAGRAM_SYNC_TIER_PLANS": f"{INSTAGRAM_PLAN}:hourly",
        # An "hourly" slot every few seconds, so that each fault's window holds several per account.
        "INSTAGRAM_SYNC_HOURLY_PERIOD_SECONDS": str(INSTAGRAM_PERIOD_SECONDS),
        "INSTAGRAM_SYNC_SCHEDULER_POLL_SECONDS": "1",
        "INSTAGRAM_SYNC_EMBEDDED_WORKERS": "none",
    }
    add("gateway", ["stripe-gateway", "serve"], gateway)
    add("gateway-relay", ["stripe-gateway", "worker", "relay"], gateway)
    add("bridge", ["lexoffice-bridge", "serve"], bridge)
    add("bridge-consumer", ["lexoffice-bridge", "worker", "consumer"], bridge)
    add("bridge-booker", ["lexoffice-bridge", "worker", "booker"], bridge)
    add("bridge-relay", ["lexoffice-bridge", "worker", "relay"], bridge)
    add("notifier", ["notifier", "serve"], notifier)
    add("notifier-consumer", ["notifier", "worker", "consumer"], notifier)
    add("notifier-sender", ["notifier", "worker", "sender", "breaker-watch"], notifier)
    add("instagram", ["instagram-sync", "serve"], instagram)
    for worker in INSTAGRAM_WORKERS:
        add(f"instagram-{worker}", ["instagram-sync", "worker", worker], instagram)
    # The HTTP processes migrate their databases; the workers start once those are ready.
    servers = ("gateway", "bridge", "notifier", "instagram")
    for name in ("stripe-mock", "lexoffice-sandbox", "postmark-sandbox", "meta-sandbox", *servers):
        platform.components[name].start()
    await asyncio.gather(*(wait_ready(f"{urls[name]}/readyz") for name in servers))
    for worker in INSTAGRAM_WORKERS:
        platform.components[f"instagram-{worker}"].start()
    for name in ("gateway-relay", "bridge-consumer", "bridge-booker", "bridge-relay"):
        platform.components[name].start()
    for name in ("notifier-consumer", "notifier-sender"):
        platform.components[name].start()
