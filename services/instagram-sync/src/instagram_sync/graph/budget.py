"""Meta's call budget, kept in PostgreSQL so every process obeys it: who may not be called until when.

An account is paused when its `X-Business-Use-Case-Usage` reaches the ceiling (before Meta throttles it), and
blocked for `estimated_time_to_regain_access` after a throttle error; the app likewise from `X-App-Usage` and the
app-wide codes. Meta extends a block when calls continue, so a blocked scope gets no call at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

import asyncpg
from opentelemetry import metrics

from ..clock import Clock, utc_now
from .usage import Usage, app_usage, business_usage

log = logging.getLogger(__name__)
_usage = metrics.get_meter("instagram_sync").create_histogram(
    "instagram_graph_usage_percent", unit="%", description="usage Meta reported in an answer (highest of its parts)"
)
_blocks = metrics.get_meter("instagram_sync").create_counter(
    "instagram_graph_blocks_total", description="pauses and blocks of the app or an account, by kind of scope"
)

APP_SCOPE = "app"


def account_scope(account_id: str) -> str:
    return f"account:{account_id}"


class Blocked(Exception):
    """No call was made: the account (or the app) may not be called before `until`."""

    def __init__(self, scope: str, until: datetime) -> None:
        super().__init__(f"{scope} blocked until {until.isoformat()}")
        self.scope = scope
        self.until = until


class CallBudget:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        ceiling_percent: float,
        pause_seconds: float,
        clock: Clock = utc_now,
    ) -> None:
        self._pool = pool
        self._ceiling = ceiling_percent
        self._pause = timedelta(seconds=pause_seconds)
        self._clock = clock

    async def check(self, account_id: str | None) -> None:
        """Raises `Blocked` when the app, or this account, may not be called now."""
        scopes = [APP_SCOPE] if account_id is None else [APP_SCOPE, account_scope(account_id)]
        row = await self._pool.fetchrow(
            "SELECT scope, blocked_until FROM graph_blocks WHERE scope = ANY($1::text[]) AND blocked_until > $2"
            " ORDER BY blocked_until DESC LIMIT 1",
            scopes,
            self._clock(),
        )
        if row is not None:
            raise Blocked(row["scope"], row["blocked_until"])

    async def blocked_until(self, account_id: str) -> datetime | None:
        try:
            await self.check(account_id)
        except Blocked as blocked:
            return blocked.until
        return None

    async def observe(self, account_id: str | None, headers: Mapping[str, str]) -> None:
        """Reads the usage headers of an answer; pauses what reached the ceiling."""
        if account_id is not None:
            usage = business_usage(headers.get("x-business-use-case-usage"), account_id)
            await self._apply(account_scope(account_id), usage)
        await self._apply(APP_SCOPE, app_usage(headers.get("x-app-usage")))

    async def throttled(
        self, account_id: str | None, *, app_wide: bool, headers: Mapping[str, str], reason: str
    ) -> None:
        """After a throttle error: blocked for Meta's estimate, at least one pause."""
        usage = business_usage(headers.get("x-business-use-case-usage"), account_id) if account_id else None
        wait = max(self._pause, timedelta(minutes=usage.regain_minutes if usage else 0))
        scope = APP_SCOPE if app_wide or account_id is None else account_scope(account_id)
        await self.block(scope, self._clock() + wait, reason)

    async def _apply(self, scope: str, usage: Usage | None) -> None:
        if usage is None:
            return
        _usage.record(usage.percent, {"scope": _kind(scope)})
        if usage.regain_minutes > 0:
            await self.block(scope, self._clock() + timedelta(minutes=usage.regain_minutes), "regain_access")
        elif usage.percent >= self._ceiling:
            await self.block(scope, self._clock() + self._pause, f"usage {usage.percent:.0f}%")

    async def block(self, scope: str, until: datetime, reason: str) -> None:
        fields = {"scope": scope, "until": until.isoformat(), "reason": reason}
        log.warning("graph calls paused", extra={"fields": fields})
        _blocks.add(1, {"scope": _kind(scope)})
        await self._pool.execute(
            """
            INSERT INTO graph_blocks (scope, blocked_until, reason) VALUES ($1, $2, $3)
            ON CONFLICT (scope) DO UPDATE SET
                blocked_until = GREATEST(graph_blocks.blocked_until, EXCLUDED.blocked_until),
                reason = EXCLUDED.reason, updated_at = now()
            """,
            scope,
            until,
            reason,
        )


def _kind(scope: str) -> str:
    return "app" if scope == APP_SCOPE else "account"
