"""The dashboard API (internal API key) from stored snapshots: a metric by day, week or month, a summary, the
snapshot's age (the fallback when syncs stop), and ETags that change only with a new snapshot."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
from intplat_sandboxes.meta import BAKERY_ACCOUNT_ID

from .conftest import Served

HEADERS = {"X-Internal-Api-Key": "test-internal-key"}
ACCOUNT = "17841499999999999"


async def store_days(pool: asyncpg.Pool, values: dict[date, float], metric: str = "views") -> None:
    await pool.executemany(
        "INSERT INTO instagram_insight_values (account_id, metric, day, value, api_version)"
        " VALUES ($1, $2, $3, $4, 'v23.0')",
        [(ACCOUNT, metric, day, value) for day, value in values.items()],
    )


async def snapshot(pool: asyncpg.Pool, taken_at: datetime, followers: int) -> int:
    snapshot_id: int = await pool.fetchval(
        "INSERT INTO instagram_account_snapshots (account_id, taken_at, api_version, username, followers_count,"
        " profile) VALUES ($1, $2, 'v23.0', 'shop', $3, $4) RETURNING id",
        ACCOUNT,
        taken_at,
        followers,
        {"username": "shop"},
    )
    return snapshot_id


async def test_a_metric_by_day_week_and_month(served: Served) -> None:
    days = {date(2026, 11, 28) + timedelta(days=n): float(n + 1) for n in range(7)}  # Sat 28 Nov .. Fri 4 Dec
    await store_days(served.pool, days)
    await snapshot(served.pool, datetime.now(UTC) - timedelta(hours=3), 100)
    query = {"metric": "views", "since": "2026-11-28", "until": "2026-12-04"}

    async def points(granularity: str) -> list[tuple[str, float]]:
        answer = await served.client.get(
            f"/v1/accounts/{ACCOUNT}/insights", params=query | {"granularity": granularity}, headers=HEADERS
        )
        assert answer.status_code == 200, answer.text
        return [(p["start"], p["value"]) for p in answer.json()["points"]]

    assert await points("day") == [(d.isoformat(), v) for d, v in days.items()]
    assert await points("week") == [("2026-11-23", 1 + 2), ("2026-11-30", 3 + 4 + 5 + 6 + 7)]
    assert await points("month") == [("2026-11-01", 1 + 2 + 3), ("2026-12-01", 4 + 5 + 6 + 7)]


async def test_freshness_and_etags_follow_the_snapshots(served: Served) -> None:
    await store_days(served.pool, {date(2026, 12, 1): 5.0})
    await snapshot(served.pool, datetime.now(UTC) - timedelta(days=2), 100)  # syncs stopped two days ago
    url = f"/v1/accounts/{ACCOUNT}/insights"
    query = {"metric": "views", "since": "2026-12-01", "until": "2026-12-01"}
    first = await served.client.get(url, params=query, headers=HEADERS)
    freshness = first.json()["freshness"]
    assert freshness["api_version"] == "v23.0" and 2 * 86_400 <= freshness["age_seconds"] < 2 * 86_400 + 600
    etag = first.headers["etag"]
    unchanged = await served.client.get(url, params=query, headers=HEADERS | {"If-None-Match": etag})
    assert unchanged.status_code == 304
    other_query = await served.client.get(url, params=query | {"granularity": "week"}, headers=HEADERS)
    assert other_query.headers["etag"] != etag
    await snapshot(served.pool, datetime.now(UTC), 120)
    renewed = await served.client.get(url, params=query, headers=HEADERS | {"If-None-Match": etag})
    assert renewed.status_code == 200 and renewed.headers["etag"] != etag
    assert renewed.json()["freshness"]["age_seconds"] < 600


async def test_refusals(served: Served) -> None:
    url = f"/v1/accounts/{ACCOUNT}/insights"
    query = {"metric": "views", "since": "2026-12-01", "until": "2026-12-02"}
    assert (await served.client.get(url, params=query)).status_code == 401
    assert (await served.client.get(url, params=query, headers=HEADERS)).status_code == 404
    await snapshot(served.pool, datetime.now(UTC), 1)
    backwards = query | {"since": "2026-12-03"}
    assert (await served.client.get(url, params=backwards, headers=HEADERS)).status_code == 422
    bad = query | {"granularity": "year"}
    assert (await served.client.get(url, params=bad, headers=HEADERS)).status_code == 422


async def test_the_summary_after_a_sync(served: Served) -> None:
    await served.connect("facebook", "cus_ada")
    async with served.pool.acquire() as conn, conn.transaction():
        assert (await served.components.sync.sync(conn, BAKERY_ACCOUNT_ID)).outcome == "synced"
    answer = await served.client.get(f"/v1/accounts/{BAKERY_ACCOUNT_ID}/summary", headers=HEADERS)
    body = answer.json()
    assert (body["username"], body["followers"], body["connection_status"]) == ("ada.bakery", 1520, "active")
    stored = await served.pool.fetch(
        "SELECT metric, sum(value) AS total FROM instagram_insight_values WHERE account_id = $1 GROUP BY metric",
        BAKERY_ACCOUNT_ID,
    )
    totals = {row["metric"]: row["total"] for row in stored}
    assert (body["views"], body["reach"]) == (totals["views"], totals["reach"])
    assert body["engagement_rate"] == totals["total_interactions"] / 1520
    top = body["top_media"]
    assert len(top) == 5 and [m["interactions"] for m in top] == sorted((m["interactions"] for m in top), reverse=True)
    assert "/v1/accounts/{account_id}/summary" in (await served.client.get("/openapi.json")).json()["paths"]
