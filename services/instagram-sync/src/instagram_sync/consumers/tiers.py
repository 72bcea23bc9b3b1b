"""`billing.subscription.updated.v1` → the customer's tier, and each of their accounts on (or off) its schedule."""

from __future__ import annotations

import logging

import asyncpg

from intplat_common import ConsumedEvent
from intplat_common.events import SubscriptionUpdated

from ..schedule import record_tier, reschedule_customer, tier_of
from .context import EventContext
from .routing import router

log = logging.getLogger(__name__)


@router.on(SubscriptionUpdated)
async def on_subscription_updated(
    conn: asyncpg.Connection, consumed: ConsumedEvent, event: SubscriptionUpdated, ctx: EventContext
) -> None:
    tier = tier_of(event, ctx.plans)
    if await record_tier(conn, event, tier, consumed.event.time):
        await reschedule_customer(conn, event.customer_id, ctx.periods, ctx.clock())
        log.info("sync tier changed", extra={"fields": {"customer_id": event.customer_id, "tier": tier}})
