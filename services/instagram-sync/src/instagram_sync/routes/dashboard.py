"""The dashboard API (internal API key): an account's metric over time, a summary, from the stored snapshots.

Every answer names its latest snapshot and that snapshot's age, so a dashboard shows stale data as stale (a blocked
or disconnected account keeps its last snapshot). Answers carry an ETag made from the latest snapshot id: a client
or cache revalidates with `If-None-Match` and gets 304 until a new snapshot arrives.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Header, HTTPException, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from intplat_common.service import ApiKey, Pool

router = APIRouter(tags=["dashboard"], dependencies=[ApiKey])
SUMMARY_DAYS = 28
TOP_MEDIA = 5


class Freshness(BaseModel):
    snapshot_id: int | None
    taken_at: datetime | None
    age_seconds: float | None
    api_version: str | None


class Point(BaseModel):
    start: date
    value: float


class InsightSeries(BaseModel):
    account_id: str
    metric: str
    granularity: Literal["day", "week", "month"]
    points: list[Point]
    freshness: Freshness


class TopMedia(BaseModel):
    media_id: str
    permalink: str | None
    media_product_type: str | None
    posted_at: datetime | None
    interactions: float


class Summary(BaseModel):
    account_id: str
    username: str | None
    followers: int | None
    reach: float | None
    views: float | None
    engagement_rate: float | None
    """Interactions over the last 28 days per follower."""
    top_media: list[TopMedia]
    connection_status: str
    freshness: Freshness


async def _freshness(pool: asyncpg.Pool, account_id: str) -> tuple[Freshness, asyncpg.Record | None]:
    row = await pool.fetchrow(
        "SELECT * FROM instagram_account_snapshots WHERE account_id = $1 ORDER BY taken_at DESC, id DESC LIMIT 1",
        account_id,
    )
    if row is None:
        return Freshness(snapshot_id=None, taken_at=None, age_seconds=None, api_version=None), None
    age = (datetime.now(UTC) - row["taken_at"]).total_seconds()
    return Freshness(
        snapshot_id=row["id"], taken_at=row["taken_at"], age_seconds=age, api_version=row["api_version"]
    ), row


def _cached(body: BaseModel, freshness: Freshness, key: str, if_none_match: str | None) -> Response:
    etag = '"' + hashlib.sha256(f"{freshness.snapshot_id}|{key}".encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=60"}
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    return JSONResponse(body.model_dump(mode="json"), headers=headers)


async def _known(pool: asyncpg.Pool, account_id: str) -> None:
    known = await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM instagram_accounts WHERE account_id = $1)"
        " OR EXISTS (SELECT 1 FROM instagram_account_snapshots WHERE account_id = $1)",
        account_id,
    )
    if not known:
        raise HTTPException(404, "unknown account")


DASHBOARD_ANSWERS: dict[int | str, dict[str, Any]] = {
    304: {"description": "unchanged since the snapshot named by If-None-Match"},
    404: {"description": "unknown account (never connected, no snapshot)"},
}


@router.get("/v1/accounts/{account_id}/insights", response_model=InsightSeries, responses=DASHBOARD_ANSWERS)
async def insights(
    account_id: str,
    pool: Pool,
    metric: Annotated[str, Query(min_length=1, max_length=64, description="e.g. views, reach, total_interactions")],
    since: Annotated[date, Query(description="first day (UTC), inclusive")],
    until: Annotated[date, Query(description="last day (UTC), inclusive")],
    granularity: Literal["day", "week", "month"] = "day",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    if until < since or until - since > timedelta(days=731):
        # As FastAPI's own validation errors answer (the documented 422 body), not a bare string.
        problem = {
            "type": "value_error",
            "loc": ("query", "until"),
            "msg": "since must be before until, at most two years apart",
            "input": str(until),
        }
        raise RequestValidationError([problem])
    await _known(pool, account_id)
    freshness, _ = await _freshness(pool, account_id)
    rows = await pool.fetch(
        """
        SELECT date_trunc($5, day::timestamp)::date AS start, sum(value) AS value FROM instagram_insight_values
        WHERE account_id = $1 AND metric = $2 AND day BETWEEN $3 AND $4 GROUP BY 1 ORDER BY 1
        """,
        account_id,
        metric,
        since,
        until,
        granularity,
    )
    series = InsightSeries(
        account_id=account_id,
        metric=metric,
        granularity=granularity,
        points=[Point(start=row["start"], value=row["value"]) for row in rows],
        freshness=freshness,
    )
    return _cached(series, freshness, f"{metric}|{since}|{until}|{granularity}", if_none_match)


@router.get("/v1/accounts/{account_id}/summary", response_model=Summary, responses=DASHBOARD_ANSWERS)
async def summary(account_id: str, pool: Pool, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    await _known(pool, account_id)
    freshness, snapshot = await _freshness(pool, account_id)
    since = datetime.now(UTC).date() - timedelta(days=SUMMARY_DAYS)
    totals = {
        row["metric"]: row["value"]
        for row in await pool.fetch(
            "SELECT metric, sum(value) AS value FROM instagram_insight_values WHERE account_id = $1 AND day > $2"
            " GROUP BY metric",
            account_id,
            since,
        )
    }
    media = await pool.fetch(
        """
        SELECT media_id, permalink, media_product_type, posted_at,
               coalesce((insights ->> 'total_interactions')::float,
                        coalesce(like_count, 0) + coalesce(comments_count, 0)) AS interactions
        FROM instagram_media WHERE account_id = $1 ORDER BY interactions DESC NULLS LAST, posted_at DESC LIMIT $2
        """,
        account_id,
        TOP_MEDIA,
    )
    status = await pool.fetchval(
        "SELECT c.status FROM instagram_accounts a JOIN integration_credentials c ON c.id = a.credential_id"
        " WHERE a.account_id = $1",
        account_id,
    )
    followers = snapshot["followers_count"] if snapshot else None
    interactions = totals.get("total_interactions")
    body = Summary(
        account_id=account_id,
        username=snapshot["username"] if snapshot else None,
        followers=followers,
        reach=totals.get("reach"),
        views=totals.get("views"),
        engagement_rate=interactions / followers if interactions is not None and followers else None,
        top_media=[TopMedia(**dict(row)) for row in media],
        connection_status=status or "disconnected",
        freshness=freshness,
    )
    return _cached(body, freshness, "summary", if_none_match)
