"""Tiers from subscriptions, slots spread over the period, and the durable claim: a round that fails or a scheduler
that stops and starts again neither skips nor repeats a slot."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import pairwise

import asyncpg

from instagram_sync.schedule import (
    Periods,
    emit_due,
    next_slot_after,
    record_tier,
    reschedule_customer,
    retry_when_unblocked,
    schedule_account,
    slot_offset,
    tier_of,
)
from instagram_sync.settings import DEFAULT_TIER_PLANS

from .samples import T0, subscription

PERIODS = Periods(hourly=3600, daily=86400)


def test_tier_by_lookup_key_and_status() -> None:
    plans = DEFAULT_TIER_PLANS
    assert tier_of(subscription("cus_1", "active", "instagram_pro_monthly"), plans) == "hourly"
    assert tier_of(subscription("cus_1", "trialing", "instagram_basic_monthly"), plans) == "daily"
    assert (
        tier_of(subscription("cus_1", "active", "instagram_basic_monthly", "instagram_pro_monthly"), plans) == "hourly"
    )
    assert tier_of(subscription("cus_1", "active", "other_plan"), plans) == "none"
    for stopped in ("canceled", "unpaid", "incomplete_expired", "paused"):
        assert tier_of(subscription("cus_1", stopped, "instagram_pro_monthly"), plans) == "none"


def test_slots_are_spread_over_the_period() -> None:
    offsets = {slot_offset(f"1784{i:06d}", 3600) for i in range(1000)}
    assert len(offsets) > 800, "a thousand accounts do not share a handful of start times"
    assert min(offsets) < 300 and max(offsets) > 3300
    slot = next_slot_after(T0, 3600, 125)
    assert slot - T0 == timedelta(seconds=125) and slot > T0
    assert next_slot_after(slot, 3600, 125) == slot + timedelta(hours=1)


async def _requests(pool: asyncpg.Pool) -> list[dict[str, str]]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = 'instagram.sync.requested.v1' ORDER BY seq")
    return [json.loads(row["payload"]) for row in rows]


async def test_tier_changes_reschedule_the_customers_accounts(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "INSERT INTO integration_credentials (provider, subject, access_token_encrypted)"
        " VALUES ('instagram_login', 'a1', 'k:t')"
    )
    await pool.execute(
        "INSERT INTO instagram_accounts (account_id, customer_id, login, credential_id)"
        " SELECT 'a1', 'cus_1', 'instagram', id FROM integration_credentials"
    )
    async with pool.acquire() as conn:
        assert await record_tier(conn, subscription("cus_1", "active", "instagram_basic_monthly"), "daily", T0)
        await reschedule_customer(conn, "cus_1", PERIODS, T0)
        assert await conn.fetchval("SELECT tier FROM sync_schedule WHERE account_id = 'a1'") == "daily"
        # An older event does not overwrite a newer one.
        assert not await record_tier(conn, subscription("cus_1", "canceled"), "none", T0 - timedelta(minutes=1))
        assert await record_tier(conn, subscription("cus_1"), "hourly", T0 + timedelta(minutes=1))
        await reschedule_customer(conn, "cus_1", PERIODS, T0)
        row = await conn.fetchrow("SELECT tier, next_slot FROM sync_schedule WHERE account_id = 'a1'")
        assert row["tier"] == "hourly" and T0 < row["next_slot"] <= T0 + timedelta(hours=1)
        assert await record_tier(conn, subscription("cus_1", "canceled"), "none", T0 + timedelta(minutes=2))
        await reschedule_customer(conn, "cus_1", PERIODS, T0)
        assert await conn.fetchval("SELECT count(*) FROM sync_schedule") == 0


async def test_every_slot_once_in_order_across_pauses(pool: asyncpg.Pool) -> None:
    periods = Periods(hourly=60, daily=86400)
    async with pool.acquire() as conn:
        for account in ("a1", "a2", "a3"):
            await schedule_account(conn, account, "hourly", periods, T0)
            # The same tier again keeps the slot (a redelivered event changes nothing).
            before = await conn.fetchval("SELECT next_slot FROM sync_schedule WHERE account_id = $1", account)
            await schedule_account(conn, account, "hourly", periods, T0 + timedelta(seconds=30))
            assert await conn.fetchval("SELECT next_slot FROM sync_schedule WHERE account_id = $1", account) == before
    assert await emit_due(pool, T0) == 0
    # Rounds every 20 s for 3 minutes, then nothing for 5 minutes (the scheduler is down), then rounds again.
    times = [T0 + timedelta(seconds=s) for s in [*range(20, 181, 20), *range(480, 900, 20)]]
    for now in times:
        await emit_due(pool, now)
        await emit_due(pool, now)  # a second scheduler round at the same moment finds nothing new
    requests = await _requests(pool)
    for account in ("a1", "a2", "a3"):
        windows = [(r["window_start"], r["window_end"]) for r in requests if r["account_id"] == account]
        assert len(windows) == len(set(windows)), "no slot twice"
        assert all(a[1] == b[0] for a, b in pairwise(windows)), "no slot skipped"
        assert 14 <= len(windows) <= 15  # 900 s of 60 s slots after the first one


async def test_a_blocked_sync_is_requested_again_when_the_block_ends(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await schedule_account(conn, "a1", "daily", PERIODS, T0)
        await retry_when_unblocked(conn, "a1", T0 + timedelta(minutes=11))
    slot = await pool.fetchval("SELECT next_slot FROM sync_schedule")
    assert slot > T0 + timedelta(minutes=11), "the retry comes before the next daily slot"
    assert await emit_due(pool, T0 + timedelta(minutes=10)) == 0
    assert await emit_due(pool, T0 + timedelta(minutes=12)) == 1
    assert await emit_due(pool, T0 + timedelta(minutes=13)) == 0, "once"
    (retry,) = await _requests(pool)
    assert (retry["trigger"], retry["window_end"]) == ("backfill", "2026-12-01T12:11:00Z")
    assert await pool.fetchval("SELECT next_slot FROM sync_schedule") == slot, "the daily grid is unchanged"
