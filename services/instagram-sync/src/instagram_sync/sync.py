"""One account's sync: profile, daily account insights, media (cursor paged) with their insights, demographics;
normalised into `instagram_account_snapshots`, `instagram_insight_values`, `instagram_media` and
`instagram_demographics`, each with the API version.

A metric Meta refuses (removed, not valid for the media, not enough viewers) is a `Gap` stored with the snapshot
and logged; the rest of the sync goes on. A refused token marks the connection `needs_reconnect` (the client is told
once) and no further call is made for it. A throttled or blocked account ends the sync without a snapshot: the
budget records when calls may resume, and the next slot's sync reads the days this one missed (daily values are
read over a look-back window and overwritten).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeVar

import asyncpg
from opentelemetry import metrics

from .clock import Clock, utc_now
from .connections import Connection, Connections
from .graph import Blocked, GraphApi, InvalidParameter, PermissionMissing, Throttled, TokenInvalid
from .graph.ports import Json
from .insights import Gap, refused_metrics, total_values
from .reconnect import reconnect_reason

log = logging.getLogger(__name__)
meter = metrics.get_meter("instagram_sync")
_syncs = meter.create_counter("instagram_syncs_total", description="account syncs by outcome")
_gaps = meter.create_counter("instagram_insight_gaps_total", description="data Meta did not give, by reason")
_calls = meter.create_histogram("instagram_sync_graph_calls", description="Graph calls of one account sync")
T = TypeVar("T")

PROFILE_FIELDS = "id,username,name,biography,followers_count,follows_count,media_count,profile_picture_url,website"
MEDIA_FIELDS = "id,caption,media_type,media_product_type,timestamp,permalink,like_count,comments_count"
# Media insight metrics per product type (reference A2, Airbyte's matrix on v23 with `views` for the removed plays
# and impressions); a carousel is a FEED post with its own list.
MEDIA_METRICS: dict[str, tuple[str, ...]] = {
    "REELS": ("reach", "likes", "comments", "saved", "shares", "views", "total_interactions"),
    "FEED": ("reach", "likes", "comments", "saved", "shares", "views", "total_interactions"),
    "CAROUSEL_ALBUM": ("reach", "saved", "shares", "total_interactions"),
    "STORY": ("reach", "replies", "shares", "views", "total_interactions"),
}
DEMOGRAPHICS: tuple[tuple[str, str | None], ...] = (
    ("follower_demographics", None),  # lifetime, no timeframe
    ("engaged_audience_demographics", "this_month"),  # only this_week / this_month since v20
)
DEMOGRAPHIC_BREAKDOWNS = ("age", "gender", "country", "city")

Outcome = Literal["synced", "not_connected", "needs_reconnect", "blocked"]


@dataclass(frozen=True)
class SyncOptions:
    api_version: str
    account_metrics: Sequence[str]
    media_page_size: int = 50
    media_max_pages: int = 20
    lookback_days: int = 2  # Meta's data may be 48 h late: the last days are read again each sync
    media_insights_days: int = 14  # insights of older media change little; each is one call
    media_insights_max: int = 25
    demographics_every: timedelta = timedelta(hours=24)


@dataclass
class SyncResult:
    outcome: Outcome
    snapshot_id: int | None = None
    calls: int = 0
    gaps: list[Gap] = field(default_factory=list)
    retry_at: datetime | None = None
    """Blocked: when Meta's budget admits calls for the account again."""


class AccountSync:
    def __init__(
        self,
        connections: Connections,
        graph: GraphApi,
        options: SyncOptions,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._connections = connections
        self._graph = graph
        self._options = options
        self._clock = clock

    async def sync(self, conn: asyncpg.Connection, account_id: str) -> SyncResult:
        result = await self._sync(conn, account_id)
        _syncs.add(1, {"outcome": result.outcome})
        _calls.record(result.calls, {"outcome": result.outcome})
        for gap in result.gaps:
            _gaps.add(1, {"reason": gap.reason})
            fields = {"account_id": account_id, **gap.as_json(), "api_version": self._options.api_version}
            log.warning("insights gap", extra={"fields": fields})
        return result

    async def _sync(self, conn: asyncpg.Connection, account_id: str) -> SyncResult:
        connection = await self._connections.get(account_id)
        if connection is None:
            return SyncResult("not_connected")
        if not connection.active:
            return SyncResult("needs_reconnect")
        run = _Run(self._graph, connection, self._options)
        try:
            return await run.sync(conn, self._clock())
        except (TokenInvalid, PermissionMissing) as exc:
            reason = reconnect_reason(exc) if isinstance(exc, TokenInvalid) else "permission_revoked"
            await self._connections.needs_reconnect(connection, reason, str(exc), self._clock())
            return SyncResult("needs_reconnect", calls=run.calls)
        except (Throttled, Blocked) as exc:
            log.warning(
                "sync stopped by Meta's budget", extra={"fields": {"account_id": account_id, "error": str(exc)}}
            )
            return SyncResult("blocked", calls=run.calls, retry_at=await self._graph.blocked_until(account_id))


class _Run:
    """The calls and writes of one sync."""

    def __init__(self, graph: GraphApi, connection: Connection, options: SyncOptions) -> None:
        self._graph = graph
        self._connection = connection
        self._options = options
        self.version = options.api_version
        self.calls = 0
        self.gaps: list[Gap] = []

    async def _get(self, path: str, params: dict[str, str]) -> Json:
        self.calls += 1
        connection = self._connection
        return await self._graph.get(connection.login, path, connection.token, params, account_id=connection.account_id)

    async def sync(self, conn: asyncpg.Connection, now: datetime) -> SyncResult:
        account_id = self._connection.account_id
        # Field expansion: the first page of media comes with the profile, in one call.
        expanded = f"{PROFILE_FIELDS},media.limit({self._options.media_page_size}){{{MEDIA_FIELDS}}}"
        profile = await self._get(account_id, {"fields": expanded})
        media = profile.pop("media", None) or {"data": []}
        totals = await self._account_insights(conn, now)
        await self._media(conn, now, media)
        demographics = await self._demographics_due(conn, now)
        rows = await self._demographics() if demographics else []
        snapshot_id = await conn.fetchval(
            """
            INSERT INTO instagram_account_snapshots (account_id, taken_at, api_version, username, followers_count,
                follows_count, media_count, profile, insights, gaps)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id
            """,
            account_id,
            now,
            self.version,
            profile.get("username"),
            profile.get("followers_count"),
            profile.get("follows_count"),
            profile.get("media_count"),
            profile,  # the pool's codec encodes json/jsonb parameters
            totals,
            [gap.as_json() for gap in self.gaps],
        )
        await conn.executemany(
            "INSERT INTO instagram_demographics (snapshot_id, metric, breakdown, timeframe, dimension, value)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [(snapshot_id, *row) for row in rows],
        )
        return SyncResult("synced", snapshot_id, self.calls, self.gaps)

    async def _insights(self, path: str, metrics: Sequence[str], params: dict[str, str], what: str) -> Json | None:
        """One insights call; metrics Meta refuses are dropped (each a gap) and the call repeated without them."""
        requested = list(metrics)
        while requested:
            try:
                return await self._get(f"{path}/insights", {"metric": ",".join(requested), **params})
            except InvalidParameter as exc:
                refused = refused_metrics(exc, requested)
                if not refused:
                    self.gaps.append(Gap(what, f"refused (code 100, subcode {exc.subcode})", str(exc)))
                    return None
                for metric in refused:
                    self.gaps.append(Gap(f"{what}:{metric}", "metric refused by Meta (removed or invalid)", str(exc)))
                requested = [metric for metric in requested if metric not in refused]
        return None

    async def _account_insights(self, conn: asyncpg.Connection, now: datetime) -> dict[str, float | None]:
        """Each of the last days as a total per metric; the last day's totals are the snapshot's."""
        latest: dict[str, float | None] = {}
        today = now.date()
        for offset in range(self._options.lookback_days - 1, -1, -1):
            day = today - timedelta(days=offset)
            start = datetime.combine(day, time(), UTC)
            params = {
                "period": "day",
                "metric_type": "total_value",
                "since": str(int(start.timestamp())),
                "until": str(int(min(start + timedelta(days=1), now).timestamp())),
            }
            # A metric refused for one day is not asked for again in this sync (one gap, no wasted call).
            refused = {gap.what for gap in self.gaps}
            metrics = [m for m in self._options.account_metrics if f"account:{m}" not in refused]
            body = await self._insights(self._connection.account_id, metrics, params, "account")
            if body is None:
                continue
            values = total_values(body)
            if not values:
                self.gaps.append(Gap(f"account:{day.isoformat()}", "no data (Meta answers an empty set)"))
            await self._store_day(conn, day, values)
            latest = {value.metric: value.value for value in values}
        return latest

    async def _store_day(self, conn: asyncpg.Connection, day: date, values: Sequence[Any]) -> None:
        await conn.executemany(
            """
            INSERT INTO instagram_insight_values (account_id, metric, day, value, api_version)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (account_id, metric, day) DO UPDATE SET value = EXCLUDED.value,
                api_version = EXCLUDED.api_version, synced_at = now()
            """,
            [
                (self._connection.account_id, v.metric, day, v.value, self.version)
                for v in values
                if v.value is not None
            ],
        )

    async def _media(self, conn: asyncpg.Connection, now: datetime, first: Json) -> None:
        account_id = self._connection.account_id
        recent: list[Json] = []
        pages = self._graph.pages_of(
            self._connection.login, first, account_id=account_id, max_pages=self._options.media_max_pages
        )
        async for number, page in aenumerate(pages):
            self.calls += number > 0  # the first page came with the profile
            await conn.executemany(
                """
                INSERT INTO instagram_media (media_id, account_id, media_type, media_product_type, posted_at,
                    permalink, caption, like_count, comments_count, api_version)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (media_id) DO UPDATE SET like_count = EXCLUDED.like_count,
                    comments_count = EXCLUDED.comments_count, caption = EXCLUDED.caption,
                    api_version = EXCLUDED.api_version, synced_at = now()
                """,
                [_media_row(account_id, item, self.version) for item in page],
            )
            horizon = now - timedelta(days=self._options.media_insights_days)
            recent.extend(item for item in page if (_posted(item) or now) >= horizon)
        for item in recent[: self._options.media_insights_max]:
            await self._media_insights(conn, item)

    async def _media_insights(self, conn: asyncpg.Connection, item: Json) -> None:
        media_id = str(item["id"])
        kind = "CAROUSEL_ALBUM" if item.get("media_type") == "CAROUSEL_ALBUM" else str(item.get("media_product_type"))
        metrics = MEDIA_METRICS.get(kind)
        if metrics is None:
            self.gaps.append(Gap(f"media:{media_id}", f"no insights for media product type {kind}"))
            return
        try:
            body = await self._insights(media_id, metrics, {}, f"media:{media_id}")
        except PermissionMissing as exc:
            if exc.code != 10:
                raise
            # (#10) Not enough viewers for the media to show insights: a story under 5 viewers.
            self.gaps.append(Gap(f"media:{media_id}", "not enough viewers", str(exc)))
            return
        if body is None:
            return
        values = {value.metric: value.value for value in total_values(body)}
        if not values:
            self.gaps.append(Gap(f"media:{media_id}", "no data (Meta answers an empty set)"))
        await conn.execute(
            "UPDATE instagram_media SET insights = $2::jsonb, synced_at = now() WHERE media_id = $1",
            media_id,
            values,
        )

    async def _demographics_due(self, conn: asyncpg.Connection, now: datetime) -> bool:
        last = await conn.fetchval(
            "SELECT max(s.taken_at) FROM instagram_account_snapshots s"
            " WHERE s.account_id = $1 AND EXISTS (SELECT 1 FROM instagram_demographics d WHERE d.snapshot_id = s.id)",
            self._connection.account_id,
        )
        return last is None or now - last >= self._options.demographics_every

    async def _demographics(self) -> list[tuple[str, str, str, str, float]]:
        rows: list[tuple[str, str, str, str, float]] = []
        for metric, timeframe in DEMOGRAPHICS:
            for breakdown in DEMOGRAPHIC_BREAKDOWNS:
                params = {"period": "lifetime", "metric_type": "total_value", "breakdown": breakdown}
                if timeframe:
                    params["timeframe"] = timeframe
                body = await self._insights(self._connection.account_id, [metric], params, f"{metric}:{breakdown}")
                if body is None:
                    continue
                found = [
                    (dimension, value) for total in total_values(body) for dimension, value in total.breakdowns.items()
                ]
                if not found:
                    self.gaps.append(Gap(f"{metric}:{breakdown}", "no data (small account or no known audience)"))
                # Meta gives the top 45 values only.
                rows.extend((metric, breakdown, timeframe or "", dimension, value) for dimension, value in found[:45])
        return rows


async def aenumerate(items: AsyncIterator[T]) -> AsyncIterator[tuple[int, T]]:
    number = 0
    async for item in items:
        yield number, item
        number += 1


def _posted(item: Json) -> datetime | None:
    stamp = item.get("timestamp")
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z") if isinstance(stamp, str) else None


def _media_row(account_id: str, item: Json, version: str) -> tuple[Any, ...]:
    return (
        str(item["id"]),
        account_id,
        item.get("media_type"),
        item.get("media_product_type"),
        _posted(item),
        item.get("permalink"),
        item.get("caption"),
        item.get("like_count"),
        item.get("comments_count"),
        version,
    )
