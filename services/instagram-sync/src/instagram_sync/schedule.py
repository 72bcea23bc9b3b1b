"""The durable sync schedule in PostgreSQL: tiers from subscriptions, one row per scheduled account with its next
slot, and the claim that turns a due slot into an `instagram.sync.requested.v1` event.

Slots: every account of a tier is due once per period, at its own offset into the period (a stable hash of the
account id), so a tier's accounts are spread over the period instead of all starting at :00. A slot is claimed by
moving `next_slot` one period forward in the transaction that writes its event to the outbox: a crash before the
commit leaves the slot due, a crash after it has the event recorded, so a restart neither skips nor repeats a slot
(slots missed while the scheduler was down are emitted one per round, in order). The event id names the account and
slot, so a consumer also drops any repeat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from intplat_common import OutboxMessage, enqueue
from intplat_common.events import InstagramSyncRequested, SubscriptionUpdated

from .events import outbox_message
from .settings import Tier

# Stripe statuses that keep a plan's syncs going; every other (canceled, unpaid, incomplete, incomplete_expired,
# paused) stops them. `past_due` keeps them while Stripe retries the payment.
SYNCING_STATUSES = frozenset({"active", "trialing", "past_due"})
TIER_RANK: Mapping[Tier, int] = {"none": 0, "daily": 1, "hourly": 2}


def tier_of(event: SubscriptionUpdated, plans: Mapping[str, Tier]) -> Tier:
    """The best tier among the subscription's items, by price lookup key; none when the status stops syncs."""
    if event.status not in SYNCING_STATUSES:
        return "none"
    tiers: list[Tier] = [plans.get(item.price_lookup_key or "", "none") for item in event.items]
    return max(tiers, key=TIER_RANK.__getitem__, default="none")


def slot_offset(account_id: str, period_seconds: int) -> int:
    digest = hashlib.sha256(account_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % period_seconds


def next_slot_after(now: datetime, period_seconds: int, offset_seconds: int) -> datetime:
    """The first slot of this account's grid strictly after `now`."""
    epoch = int(now.timestamp())
    base = (epoch - offset_seconds) // period_seconds * period_seconds + offset_seconds
    return datetime.fromtimestamp(base + period_seconds, UTC)


@dataclass(frozen=True)
class Periods:
    hourly: int
    daily: int

    def of(self, tier: Tier) -> int | None:
        return {"hourly": self.hourly, "daily": self.daily}.get(tier)


async def record_tier(conn: asyncpg.Connection, event: SubscriptionUpdated, tier: Tier, event_time: datetime) -> bool:
    """Stores the customer's tier unless a newer event already did. True when it changed."""
    lookup_keys = [item.price_lookup_key for item in event.items if item.price_lookup_key]
    previous = await conn.fetchrow(
        "SELECT tier, event_time FROM customer_tiers WHERE customer_id = $1 FOR UPDATE", event.customer_id
    )
    if previous is not None and previous["event_time"] > event_time:
        return False
    await conn.execute(
        """
        INSERT INTO customer_tiers (customer_id, tier, subscription_id, status, lookup_key, event_time)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (customer_id) DO UPDATE SET tier = EXCLUDED.tier, subscription_id = EXCLUDED.subscription_id,
            status = EXCLUDED.status, lookup_key = EXCLUDED.lookup_key, event_time = EXCLUDED.event_time,
            updated_at = now()
        """,
        event.customer_id,
        tier,
        event.subscription_id,
        event.status,
        ",".join(lookup_keys) or None,
        event_time,
    )
    return previous is None or previous["tier"] != tier


async def reschedule_customer(conn: asyncpg.Connection, customer_id: str, periods: Periods, now: datetime) -> None:
    """Puts every connected account of the customer on its tier's grid (or off the schedule)."""
    tier: Tier = await conn.fetchval("SELECT tier FROM customer_tiers WHERE customer_id = $1", customer_id) or "none"
    accounts = await conn.fetch("SELECT account_id FROM instagram_accounts WHERE customer_id = $1", customer_id)
    for account in accounts:
        await schedule_account(conn, account["account_id"], tier, periods, now)


async def schedule_account(
    conn: asyncpg.Connection, account_id: str, tier: Tier, periods: Periods, now: datetime
) -> None:
    period = periods.of(tier)
    if period is None:
        await conn.execute("DELETE FROM sync_schedule WHERE account_id = $1", account_id)
        return
    offset = slot_offset(account_id, period)
    # The same tier keeps its next slot (a repeated event changes nothing); a new tier starts on its own grid.
    await conn.execute(
        """
        INSERT INTO sync_schedule (account_id, tier, period_seconds, offset_seconds, next_slot)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (account_id) DO UPDATE SET tier = EXCLUDED.tier, period_seconds = EXCLUDED.period_seconds,
            offset_seconds = EXCLUDED.offset_seconds, next_slot = EXCLUDED.next_slot, updated_at = now()
        WHERE sync_schedule.tier <> EXCLUDED.tier OR sync_schedule.period_seconds <> EXCLUDED.period_seconds
        """,
        account_id,
        tier,
        period,
        offset,
        next_slot_after(now, period, offset),
    )


async def schedule_of(pool: asyncpg.Pool, account_id: str) -> dict[str, object] | None:
    """The account's place on the schedule (tier, period, next slot, a pending retry), or None when it has none."""
    row = await pool.fetchrow(
        "SELECT tier, period_seconds, next_slot, retry_at FROM sync_schedule WHERE account_id = $1", account_id
    )
    return dict(row) if row is not None else None


async def retry_when_unblocked(conn: asyncpg.Connection, account_id: str, at: datetime) -> None:
    """A sync Meta's budget stopped is requested again at `at` (once; a slot that comes first makes it moot)."""
    await conn.execute("UPDATE sync_schedule SET retry_at = $2 WHERE account_id = $1", account_id, at)


async def emit_due(pool: asyncpg.Pool, now: datetime, *, limit: int = 500) -> int:
    """Claims each due slot (one per account per round), or else a due retry, and records its sync request;
    returns how many."""
    async with pool.acquire() as conn, conn.transaction():
        due = await conn.fetch(
            """
            SELECT account_id, tier, period_seconds, next_slot, retry_at FROM sync_schedule
            WHERE next_slot <= $1 OR retry_at <= $1
            ORDER BY least(next_slot, retry_at) LIMIT $2 FOR UPDATE SKIP LOCKED
            """,
            now,
            limit,
        )
        if not due:
            return 0
        slots = [row for row in due if row["next_slot"] <= now]
        # A slot's sync reads the missed days too: it replaces a pending retry.
        await conn.executemany(
            "UPDATE sync_schedule SET next_slot = next_slot + make_interval(secs => period_seconds), retry_at = NULL,"
            " updated_at = now() WHERE account_id = $1",
            [(row["account_id"],) for row in slots],
        )
        retries = [row for row in due if row["next_slot"] > now]
        await conn.executemany(
            "UPDATE sync_schedule SET retry_at = NULL, updated_at = now() WHERE account_id = $1",
            [(row["account_id"],) for row in retries],
        )
        messages = [_slot_request(row, now) for row in slots] + [_retry_request(row, now) for row in retries]
        await enqueue(conn, messages)
    return len(due)


def _slot_request(row: asyncpg.Record, now: datetime) -> OutboxMessage:
    slot: datetime = row["next_slot"]
    event = InstagramSyncRequested(
        account_id=row["account_id"],
        tier=row["tier"],
        window_start=slot - timedelta(seconds=row["period_seconds"]),
        window_end=slot,
        requested_at=now,
    )
    return outbox_message(
        event, event_id=f"{row['account_id']}-{slot.isoformat()}", subject=row["account_id"], time=now
    )


def _retry_request(row: asyncpg.Record, now: datetime) -> OutboxMessage:
    """The period that ends at the retry time (trigger `backfill`: it reads what the blocked sync missed)."""
    retry: datetime = row["retry_at"]
    event = InstagramSyncRequested(
        account_id=row["account_id"],
        tier=row["tier"],
        window_start=retry - timedelta(seconds=row["period_seconds"]),
        window_end=retry,
        requested_at=now,
        trigger="backfill",
    )
    event_id = f"{row['account_id']}-retry-{retry.isoformat()}"
    return outbox_message(event, event_id=event_id, subject=row["account_id"], time=now)
