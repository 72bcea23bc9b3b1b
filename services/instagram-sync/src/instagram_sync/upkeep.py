"""Token upkeep: Instagram Login tokens are refreshed before they age out; Facebook Login tokens cannot be refreshed
server-side, so the client is reminded to reconnect at each threshold (14/7/1 days by default), once per threshold;
an expired or invalid token marks the connection `needs_reconnect` and tells the client the same way."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from intplat_common import CircuitOpenError, ProviderError, enqueue
from intplat_common.credentials import CredentialStatus

from .clock import Clock, utc_now
from .connections import Connection, Connections, expiring_event
from .events import outbox_message
from .graph import Blocked, GraphApi, GraphError, TokenInvalid
from .reconnect import reconnect_reason

log = logging.getLogger(__name__)


REFRESH_FLOOR = timedelta(hours=24)  # Meta refuses to refresh a younger token


@dataclass(frozen=True)
class UpkeepReport:
    refreshed: int = 0
    reminded: int = 0
    needs_reconnect: int = 0


class TokenUpkeep:
    def __init__(
        self,
        connections: Connections,
        graph: GraphApi,
        *,
        refresh_after: timedelta,
        reminder_days: Sequence[int],
        clock: Clock = utc_now,
    ) -> None:
        self._connections = connections
        self._graph = graph
        self._refresh_after = refresh_after
        self._reminder_days = sorted(reminder_days)
        self._clock = clock

    async def round(self) -> UpkeepReport:
        now = self._clock()
        refreshed = reminded = lost = 0
        horizon = now + timedelta(days=max(self._reminder_days, default=0))
        for connection in await self._connections.expiring("facebook", horizon):
            if connection.expires_at is not None and connection.expires_at <= now:
                lost += await self._connections.needs_reconnect(connection, "token_expired", "token expired", now)
            else:
                reminded += await self._remind(connection, now)
        due = await self._connections.refresh_due(
            refreshed_before=now - self._refresh_after, expiring_before=horizon, min_age=now - REFRESH_FLOOR
        )
        for connection in due:
            outcome = await self._refresh(connection, now)
            refreshed += outcome == "refreshed"
            lost += outcome == "needs_reconnect"
        return UpkeepReport(refreshed, reminded, lost)

    async def _remind(self, connection: Connection, now: datetime) -> bool:
        """The smallest threshold already reached, once (after a pause, the 14-day one is not sent at day 5)."""
        assert connection.expires_at is not None
        left = connection.expires_at - now
        reached = [days for days in self._reminder_days if left <= timedelta(days=days)]
        if not reached:
            return False
        threshold = reached[0]
        async with self._connections.pool.acquire() as conn, conn.transaction():
            recorded = await conn.fetchval(
                "INSERT INTO expiry_reminders (account_id, expires_at, threshold_days) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING RETURNING threshold_days",
                connection.account_id,
                connection.expires_at,
                threshold,
            )
            if recorded is None:
                return False
            event = expiring_event(connection, "token_expiring", now)
            event_id = f"{connection.account_id}-expiring-{connection.expires_at.isoformat()}-{threshold}d"
            await enqueue(conn, [outbox_message(event, event_id=event_id, subject=connection.account_id)])
        return True

    async def _refresh(self, connection: Connection, now: datetime) -> str:
        if connection.status != CredentialStatus.ACTIVE:
            return "skipped"
        if connection.expires_at is not None and connection.expires_at <= now:
            await self._connections.needs_reconnect(connection, "token_expired", "token expired before refresh", now)
            return "needs_reconnect"
        try:
            token = await self._graph.refresh_instagram_token(connection.token)
        except TokenInvalid as exc:
            await self._connections.needs_reconnect(connection, reconnect_reason(exc), str(exc), now)
            return "needs_reconnect"
        except (GraphError, Blocked, ProviderError, CircuitOpenError) as exc:
            log.warning("token refresh failed; next round tries again", extra={"fields": {"error": str(exc)}})
            return "failed"
        await self._connections.replace_token(connection.account_id, token, now)
        return "refreshed"
