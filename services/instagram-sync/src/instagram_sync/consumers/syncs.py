"""`instagram.sync.requested.v1` → one account's sync, its writes in the inbox transaction (a redelivered request
is skipped by the inbox)."""

from __future__ import annotations

import logging

import asyncpg

from intplat_common import CircuitOpenError, ConsumedEvent, ProviderError, TransientError
from intplat_common.events import InstagramSyncRequested

from ..graph import TransientGraphError
from ..schedule import retry_when_unblocked
from .context import EventContext
from .routing import router

log = logging.getLogger(__name__)


@router.on(InstagramSyncRequested)
async def on_sync_requested(
    conn: asyncpg.Connection, consumed: ConsumedEvent, event: InstagramSyncRequested, ctx: EventContext
) -> None:
    try:
        result = await ctx.sync.sync(conn, event.account_id)
    except (ProviderError, CircuitOpenError, TransientGraphError) as exc:
        # Meta is unreachable or failing: the record is fine, so it is retried (the breaker paces the retries).
        raise TransientError(str(exc)) from exc
    if result.retry_at is not None:
        await retry_when_unblocked(conn, event.account_id, result.retry_at)
    fields = {
        "account_id": event.account_id,
        "outcome": result.outcome,
        "calls": result.calls,
        "gaps": len(result.gaps),
    }
    log.info("account sync", extra={"fields": {**fields, "ce_id": consumed.event.id}})
