"""One account's sync against the Meta sandbox: profile, daily account insights, media over cursor pages (short and
empty pages that keep `next`), media insights per product type, demographics; gaps instead of crashes; the budget
(no call while blocked, syncs resume after the window; a pause at the usage ceiling) and a refused token."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from intplat_sandboxes.meta import BAKERY_ACCOUNT_ID, CREATOR_ACCOUNT_ID, TINY_ACCOUNT_ID
from intplat_sandboxes.meta._sandbox import NextLogin
from prometheus_client.parser import text_string_to_metric_families

from instagram_sync.sync import SyncResult
from intplat_common.events import InstagramConnectionExpiring

from .conftest import Served

SMALL_PAGES = {"INSTAGRAM_SYNC_MEDIA_PAGE_SIZE": 5}
REFUSED = "metric refused by Meta (removed or invalid)"


async def sync(served: Served, account_id: str = BAKERY_ACCOUNT_ID) -> SyncResult:
    async with served.pool.acquire() as conn, conn.transaction():
        return await served.components.sync.sync(conn, account_id)


async def counted(served: Served, name: str, **labels: str) -> float:
    """A counter as the service's /metrics serves it."""
    text = (await served.client.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def synced(served: Served, account_id: str = BAKERY_ACCOUNT_ID) -> tuple[SyncResult, list[str]]:
    """The result and the Graph requests the sync made."""
    before = len(served.graph_requests())
    result = await sync(served, account_id)
    return result, served.graph_requests()[before:]


@pytest.mark.parametrize("settings_extra", [SMALL_PAGES], indirect=True)
async def test_a_full_sync(served: Served, settings_extra: dict[str, Any]) -> None:
    await served.connect("facebook", "cus_ada")
    result, requests = await synced(served)
    assert result.outcome == "synced" and result.calls == len(requests)
    snapshot = await served.pool.fetchrow("SELECT * FROM instagram_account_snapshots")
    assert (snapshot["api_version"], snapshot["username"], snapshot["followers_count"]) == ("v23.0", "ada.bakery", 1520)
    assert set(snapshot["insights"]) == {"views", "reach", "total_interactions", "accounts_engaged"}
    # Every media item over pages of 5, one of them short and one empty (both with `next`).
    media = await served.pool.fetch("SELECT * FROM instagram_media WHERE account_id = $1", BAKERY_ACCOUNT_ID)
    assert len(media) == len(served.meta.account(BAKERY_ACCOUNT_ID).media_ids) == 24
    assert {m["media_product_type"] for m in media} == {"FEED", "REELS", "STORY"}
    assert {m["api_version"] for m in media} == {"v23.0"}
    by_kind = {(m["media_type"], m["media_product_type"]): m["insights"] for m in media if m["insights"]}
    assert "views" in by_kind["VIDEO", "REELS"] and "views" not in by_kind["CAROUSEL_ALBUM", "FEED"]
    assert "replies" in by_kind["IMAGE", "STORY"]
    # Daily account values for the look-back days; demographics per breakdown, top 45 at most.
    values = await served.pool.fetch("SELECT metric, count(*) AS days FROM instagram_insight_values GROUP BY metric")
    assert {(v["metric"], v["days"]) for v in values} == {
        (m, 2) for m in ("views", "reach", "total_interactions", "accounts_engaged")
    }
    demographics = await served.pool.fetch(
        "SELECT metric, breakdown, timeframe, count(*) AS n FROM instagram_demographics GROUP BY 1, 2, 3"
    )
    assert len(demographics) == 8 and max(d["n"] for d in demographics) == 45
    assert {d["timeframe"] for d in demographics if d["metric"] == "engaged_audience_demographics"} == {"this_month"}
    # A media whose insights are not ready yet is a gap, not a zero.
    assert [g.reason for g in result.gaps] == ["no data (Meta answers an empty set)"]
    assert snapshot["gaps"] == [result.gaps[0].as_json()]

    again, requests = await synced(served)
    assert again.outcome == "synced"
    assert again.calls == len(requests) == result.calls - 8, "the eight demographics calls only once a day"
    assert await served.pool.fetchval("SELECT count(*) FROM instagram_media") == 24
    assert await served.pool.fetchval("SELECT count(DISTINCT snapshot_id) FROM instagram_demographics") == 1, (
        "demographics once a day"
    )


@pytest.mark.parametrize(
    "settings_extra", [{"INSTAGRAM_SYNC_ACCOUNT_METRICS": "views,impressions,reach,profile_views"}], indirect=True
)
async def test_a_removed_metric_is_a_logged_gap(
    served: Served, settings_extra: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    await served.connect("facebook", "cus_ada")
    refused_before = await counted(served, "instagram_insight_gaps_total", reason=REFUSED)
    synced_before = await counted(served, "instagram_syncs_total", outcome="synced")
    result = await sync(served)
    assert result.outcome == "synced"
    assert await counted(served, "instagram_insight_gaps_total", reason=REFUSED) == refused_before + 2
    assert await counted(served, "instagram_syncs_total", outcome="synced") == synced_before + 1
    removed = {g.what for g in result.gaps if g.reason.startswith("metric refused")}
    assert {w.rsplit(":", 1)[-1] for w in removed} == {"impressions", "profile_views"}
    metrics = await served.pool.fetch("SELECT DISTINCT metric FROM instagram_insight_values")
    assert {m["metric"] for m in metrics} == {"views", "reach"}
    assert any(
        r.getMessage() == "insights gap" and "impressions" in str(r.__dict__.get("fields")) for r in caplog.records
    )


async def test_a_small_account_and_an_instagram_login_account(served: Served) -> None:
    await served.connect("facebook", "cus_ada")
    small = await sync(served, TINY_ACCOUNT_ID)
    assert small.outcome == "synced"
    assert {g.what for g in small.gaps} >= {"follower_demographics:age", "engaged_audience_demographics:city"}
    served.meta.next_login = NextLogin(instagram_account_id=CREATOR_ACCOUNT_ID)
    await served.connect("instagram", "cus_creator")
    creator = await sync(served, CREATOR_ACCOUNT_ID)
    assert creator.outcome == "synced"
    username = await served.pool.fetchval(
        "SELECT username FROM instagram_account_snapshots WHERE account_id = $1", CREATOR_ACCOUNT_ID
    )
    assert username == "creator.studio"


async def test_a_throttling_storm_makes_no_call_until_access_is_regained(served: Served) -> None:
    await served.connect("facebook", "cus_ada")
    served.meta.block(code=80002, minutes=10, account_id=BAKERY_ACCOUNT_ID)
    first, requests = await synced(served)
    assert (first.outcome, len(requests)) == ("blocked", 1)
    until = await served.pool.fetchval(
        "SELECT blocked_until FROM graph_blocks WHERE scope = $1", f"account:{BAKERY_ACCOUNT_ID}"
    )
    assert 10 * 60 <= (until - served.meta.now()).total_seconds() <= 12 * 60, "Meta's estimate, in minutes"
    assert first.retry_at == until, "the consumer asks for the sync again when the block ends"
    for _ in range(5):
        storm, requests = await synced(served)
        assert (storm.outcome, requests) == ("blocked", []), "not a single call while blocked"
    other = await sync(served, TINY_ACCOUNT_ID)
    assert other.outcome == "synced", "only the throttled account waits"
    usage = served.meta.budgets.accounts[BAKERY_ACCOUNT_ID]
    assert usage.refused_while_blocked == 1, "only the call that found the block"
    served.meta.clock.advance(12 * 60)
    resumed = await sync(served)
    assert resumed.outcome == "synced"


@pytest.mark.parametrize("settings_extra", [{"INSTAGRAM_SYNC_USAGE_CEILING": 80}], indirect=True)
async def test_usage_at_the_ceiling_pauses_the_account_before_meta_throttles(
    served: Served, settings_extra: dict[str, Any]
) -> None:
    await served.connect("facebook", "cus_ada")
    served.meta.budgets.account(BAKERY_ACCOUNT_ID, 2400).fill(served.meta.now(), 85)
    paused, requests = await synced(served)
    assert (paused.outcome, len(requests)) == ("blocked", 1)
    assert served.meta.budgets.accounts[BAKERY_ACCOUNT_ID].refused == 0, "Meta never had to refuse a call"
    reason = await served.pool.fetchval(
        "SELECT reason FROM graph_blocks WHERE scope = $1", f"account:{BAKERY_ACCOUNT_ID}"
    )
    assert reason.startswith("usage 8")


async def test_a_refused_token_stops_calls_and_tells_the_client(served: Served) -> None:
    await served.connect("facebook", "cus_ada")
    served.meta.clock.advance(61 * 86_400)  # the long-lived token expired: 190/463
    refused, requests = await synced(served)
    assert (refused.outcome, len(requests)) == ("needs_reconnect", 1)
    again, requests = await synced(served)
    assert (again.outcome, requests) == ("needs_reconnect", []), "no call after a 190"
    payloads = await served.pool.fetch("SELECT payload FROM outbox WHERE topic = $1", InstagramConnectionExpiring.TOPIC)
    events = [InstagramConnectionExpiring.model_validate_json(p["payload"]) for p in payloads]
    assert [(e.account_id, e.reason) for e in events] == [(BAKERY_ACCOUNT_ID, "token_expired")]


async def test_concurrent_syncs_of_a_refused_token_tell_the_client_once(served: Served) -> None:
    """A scheduled sync, a backfill and a redelivered request may run at once: one change of status, one event."""
    await served.connect("facebook", "cus_ada")
    served.meta.clock.advance(61 * 86_400)
    results = await asyncio.gather(*(sync(served) for _ in range(4)))
    assert {r.outcome for r in results} == {"needs_reconnect"}
    payloads = await served.pool.fetch("SELECT payload FROM outbox WHERE topic = $1", InstagramConnectionExpiring.TOPIC)
    events = [InstagramConnectionExpiring.model_validate_json(p["payload"]) for p in payloads]
    assert [(e.account_id, e.reason) for e in events] == [(BAKERY_ACCOUNT_ID, "token_expired")]
