"""`OAuthAuthorization`: the Lexoffice client's `Authorization` in partner mode, the stored access token, refreshed
before it expires by exactly one process at a time.

Every process and replica reads the one row of `TokenStore`. A refresh happens under a PostgreSQL advisory lock held
for the refresh's transaction: while the old token still works, a process that finds the lock taken goes on with the
old token (`pg_try_advisory_xact_lock`); once it has expired (or after a 401) it waits for the lock and then reads
what the holder stored. Whoever gets the lock reads the row again and refreshes only if nobody did meanwhile, so one
due token means one token request. In one process an asyncio lock keeps concurrent calls to one database trip.

The authorization server blocks clients that keep trying: the refresh itself retries with backoff on one breaker
(`OAuth2Flow`), and a refresh that failed anyway stops every process from trying again before `refresh_not_before`
(stored, doubling per failure). `invalid_grant` marks the connection `needs_reconnect`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from intplat_common import CircuitOpenError, ProviderError
from intplat_common.credentials import CredentialStatus, OAuth2Flow, OAuthGrantError, ReconnectRequired

from .store import PROVIDER, SUBJECT, StoredToken, TokenStore, mark_needs_reconnect

log = logging.getLogger(__name__)
RECONNECT = "needs reconnect:"

# One lock per organisation's connection, apart from every other advisory lock user (a digest of its name).
REFRESH_LOCK = int.from_bytes(
    hashlib.sha256(f"{PROVIDER}-oauth-refresh:{SUBJECT}".encode()).digest()[:8], "big", signed=True
)


class NotConnected(ProviderError):
    """No usable Lexoffice connection: never connected, or it needs a reconnect (the reason says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(PROVIDER, f"not connected: {reason}; an operator connects at /v1/lexoffice/connect")


class OAuthAuthorization:
    def __init__(
        self,
        store: TokenStore,
        flow: OAuth2Flow,
        *,
        refresh_margin: timedelta,
        backoff: timedelta,
        backoff_max: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.flow = flow
        self._margin = refresh_margin
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._clock = clock
        self._lock = asyncio.Lock()
        self._current: StoredToken | None = None

    async def header(self) -> str:
        return f"Bearer {(await self._usable()).access_token}"

    async def refused(self, header: str) -> bool:
        """A 401 for `header`'s token: one refresh (or the token another process or call refreshed meanwhile)."""
        seen = header.removeprefix("Bearer ")
        async with self._lock:
            if self._current is not None and self._current.access_token != seen:
                return True
            try:
                self._current = await self._refresh(seen, forced=True)
            except NotConnected:
                self._current = None
                return False
            return self._current.access_token != seen

    async def _usable(self) -> StoredToken:
        if self._current is not None and not self._due(self._current):
            return self._current
        async with self._lock:
            if self._current is None or self._due(self._current):
                stored = _active(await self.store.read())
                self._current = await self._refresh(stored.access_token, forced=False) if self._due(stored) else stored
            return self._current

    def _due(self, token: StoredToken) -> bool:
        return token.expires_at is not None and token.expires_at - self._margin <= self._clock()

    def _expired(self, token: StoredToken) -> bool:
        return token.expires_at is not None and token.expires_at <= self._clock()

    async def _refresh(self, seen: str, *, forced: bool) -> StoredToken:
        """The token to use after refreshing `seen` (or finding it refreshed); `forced` after a 401."""
        async with self.store.pool.acquire() as conn, conn.transaction():
            current = _active(await self.store.read(conn))
            if current.access_token != seen:
                return current
            old_still_works = not forced and not self._expired(current)
            if old_still_works:
                if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", REFRESH_LOCK):
                    return current  # another process is refreshing it
            else:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", REFRESH_LOCK)
            current = _active(await self.store.read(conn))
            if current.access_token != seen:
                return current
            outcome = await self._ask_for_new_token(conn, current)
        if isinstance(outcome, StoredToken):
            return outcome
        if outcome.startswith(RECONNECT):
            raise NotConnected(outcome)
        if old_still_works or forced:
            log.warning(
                "lexoffice token refresh failed; the current token is kept", extra={"fields": {"error": outcome}}
            )
            return current
        raise ProviderError(PROVIDER, outcome)

    async def _ask_for_new_token(self, conn: asyncpg.Connection, current: StoredToken) -> StoredToken | str:
        """The stored new token, or why there is none (the failure is stored: a raise would roll it back)."""
        now = self._clock()
        if current.refresh_not_before is not None and now < current.refresh_not_before:
            return f"token refresh backing off until {current.refresh_not_before.isoformat()}"
        if current.refresh_token is None:
            await mark_needs_reconnect(conn, "no refresh token")
            return f"{RECONNECT} no refresh token"
        try:
            tokens = await self.flow.refresh(current.refresh_token)
        except ReconnectRequired as exc:
            await mark_needs_reconnect(conn, str(exc))
            return f"{RECONNECT} {exc}"
        except (OAuthGrantError, ProviderError, CircuitOpenError) as exc:
            failures = current.refresh_failures + 1
            wait = min(self._backoff_max, self._backoff * 2 ** (failures - 1))
            await self.store.refresh_failed(conn, failures, now + wait)
            return f"token refresh failed ({failures} times, next try in {wait.total_seconds():.0f} s): {exc}"
        await self.store.refreshed(conn, tokens, current)
        return _active(await self.store.read(conn))


def _active(token: StoredToken | None) -> StoredToken:
    if token is None:
        raise NotConnected("no connection stored")
    if token.status != CredentialStatus.ACTIVE:
        raise NotConnected(f"{token.status.value} ({token.status_reason or 'no reason given'})")
    return token
