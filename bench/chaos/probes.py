"""What is still to do, read from the platform: outbox rows not yet published, effect-ledger rows not yet done,
consumer lag per group, Instagram accounts whose slot is overdue, and acknowledged webhooks without their mail yet
(end to end)."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from intplat_common.effects import PENDING_STATUSES

from .._notifier import accepted_by_postmark
from .load import WebhookLoad
from .platform import GROUPS, POSTMARK_TOKEN, Platform

OVERDUE = "now() - interval '3 s'"
BACKLOG_QUERIES: dict[str, tuple[str, str, tuple[object, ...]]] = {
    "gateway_outbox": ("gateway", "SELECT count(*) FROM outbox", ()),
    "bridge_outbox": ("bridge", "SELECT count(*) FROM outbox", ()),
    "bridge_effects": ("bridge", "SELECT count(*) FROM lexoffice_effects WHERE status = ANY($1)", (PENDING_STATUSES,)),
    "notifier_mails": ("notifier", "SELECT count(*) FROM messages WHERE status = ANY($1)", (PENDING_STATUSES,)),
    "instagram_outbox": ("instagram", "SELECT count(*) FROM outbox", ()),
    # Accounts whose slot is due and not claimed by a scheduler round (a round runs every second).
    "instagram_overdue": ("instagram", f"SELECT count(*) FROM sync_schedule WHERE next_slot < {OVERDUE}", ()),
}
UNAVAILABLE = -1
MAILED = ["sent", "delivered", "opened", "clicked"]  # accepted by Postmark (the notifier's own record)


async def mails_sent(notifier_dsn: str, recipients: list[str]) -> int:
    """How many of `recipients` the notifier has recorded a mail accepted by Postmark for."""
    query = "SELECT count(DISTINCT recipient) FROM messages WHERE recipient = ANY($1::text[]) AND status = ANY($2)"
    return await _count(notifier_dsn, query, recipients, MAILED)


async def _count(dsn: str, query: str, *args: object) -> int:
    try:
        connection = await asyncpg.connect(dsn, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return UNAVAILABLE
    try:
        return int(await connection.fetchval(query, *args, timeout=5))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return UNAVAILABLE
    finally:
        connection.terminate()


class ConsumerLag:
    """Committed offsets of a group against the partitions' ends, over clients kept for the whole run."""

    def __init__(self, bootstrap: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=3000)

    async def start(self) -> None:
        await self._admin.start()
        await self._consumer.start()

    async def close(self) -> None:
        await asyncio.gather(self._admin.close(), self._consumer.stop(), return_exceptions=True)

    async def of(self, group: str) -> int:
        try:
            committed = await asyncio.wait_for(self._admin.list_consumer_group_offsets(group), 5)
            ends = await asyncio.wait_for(self._consumer.end_offsets(list(committed)), 5) if committed else {}
        except (KafkaError, TimeoutError, OSError):  # the broker is down or electing: unknown, not a failed run
            return UNAVAILABLE
        return sum(max(0, ends[tp] - meta.offset) for tp, meta in committed.items())


async def backlogs(platform: Platform, load: WebhookLoad, http: httpx.AsyncClient, lag: ConsumerLag) -> dict[str, int]:
    names = list(BACKLOG_QUERIES)
    counts = await asyncio.gather(
        *(_count(platform.databases[service], query, *args) for service, query, args in BACKLOG_QUERIES.values()),
        *(lag.of(group) for group in GROUPS.values()),
        accepted_by_postmark(http, platform.urls["postmark"], POSTMARK_TOKEN),
    )
    figures = dict(zip([*names, *(f"lag_{g}" for g in GROUPS)], counts[:-1], strict=True))
    figures["acked_not_mailed"] = len(load.history.acked_at) - counts[-1]
    return figures
