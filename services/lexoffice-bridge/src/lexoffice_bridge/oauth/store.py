"""The organisation's Lexoffice OAuth tokens in `integration_credentials` (encrypted), one row every process shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from intplat_common.credentials import CredentialCipher, CredentialStatus, TokenSet

from .token_metrics import refresh_failures_seen, token_seen

PROVIDER = "lexoffice"
SUBJECT = "organization"  # one bridge books for one Lexoffice organisation

_COLUMNS = (
    "access_token_encrypted, refresh_token_encrypted, expires_at, status, status_reason, refresh_failures, "
    "refresh_not_before"
)


@dataclass(frozen=True)
class StoredToken:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    status: CredentialStatus
    status_reason: str | None
    refresh_failures: int
    refresh_not_before: datetime | None
    """No process asks the authorization server before this (set after a failed refresh)."""


class TokenStore:
    def __init__(self, pool: asyncpg.Pool, cipher: CredentialCipher) -> None:
        self.pool = pool
        self._cipher = cipher

    async def read(self, conn: asyncpg.Connection | asyncpg.Pool | None = None) -> StoredToken | None:
        row = await (conn or self.pool).fetchrow(
            f"SELECT {_COLUMNS} FROM integration_credentials WHERE provider = $1 AND subject = $2",  # noqa: S608 - constant
            PROVIDER,
            SUBJECT,
        )
        if row is None:
            return None
        token_seen(row["expires_at"], row["refresh_failures"])
        refresh = row["refresh_token_encrypted"]
        return StoredToken(
            access_token=self._cipher.decrypt(row["access_token_encrypted"]),
            refresh_token=None if refresh is None else self._cipher.decrypt(refresh),
            expires_at=row["expires_at"],
            status=CredentialStatus(row["status"]),
            status_reason=row["status_reason"],
            refresh_failures=row["refresh_failures"],
            refresh_not_before=row["refresh_not_before"],
        )

    async def connect(self, tokens: TokenSet) -> None:
        """The tokens of a completed connect flow; they replace whatever was stored (a reconnect)."""
        await self.pool.execute(
            """
            INSERT INTO integration_credentials
                (provider, subject, access_token_encrypted, refresh_token_encrypted, scopes, expires_at, refreshed_at)
            VALUES ($1, $2, $3, $4, $5, $6, now())
            ON CONFLICT (provider, subject) DO UPDATE SET
                access_token_encrypted = EXCLUDED.access_token_encrypted,
                refresh_token_encrypted = EXCLUDED.refresh_token_encrypted,
                scopes = EXCLUDED.scopes, expires_at = EXCLUDED.expires_at, refreshed_at = now(),
                status = 'active', status_reason = NULL, refresh_failures = 0, refresh_not_before = NULL,
                updated_at = now()
            """,
            PROVIDER,
            SUBJECT,
            *self._encrypted(tokens, previous_refresh=None),
            list(tokens.scopes or ()),
            tokens.expires_at,
        )
        token_seen(tokens.expires_at, 0)

    async def refreshed(self, conn: asyncpg.Connection, tokens: TokenSet, previous: StoredToken) -> None:
        await conn.execute(
            """
            UPDATE integration_credentials SET
                access_token_encrypted = $3, refresh_token_encrypted = $4,
                scopes = coalesce($5, scopes), expires_at = $6, refreshed_at = now(),
                refresh_failures = 0, refresh_not_before = NULL, updated_at = now()
            WHERE provider = $1 AND subject = $2
            """,
            PROVIDER,
            SUBJECT,
            *self._encrypted(tokens, previous_refresh=previous.refresh_token),
            None if tokens.scopes is None else list(tokens.scopes),
            tokens.expires_at,
        )
        token_seen(tokens.expires_at, 0)

    async def refresh_failed(self, conn: asyncpg.Connection, failures: int, not_before: datetime) -> None:
        await conn.execute(
            """
            UPDATE integration_credentials SET refresh_failures = $3, refresh_not_before = $4, updated_at = now()
            WHERE provider = $1 AND subject = $2
            """,
            PROVIDER,
            SUBJECT,
            failures,
            not_before,
        )
        refresh_failures_seen(failures)

    def _encrypted(self, tokens: TokenSet, *, previous_refresh: str | None) -> tuple[str, str | None]:
        # RFC 6749 §6: without a new refresh token in the answer, the one used stays valid.
        refresh = tokens.refresh_token or previous_refresh
        return self._cipher.encrypt(tokens.access_token), None if refresh is None else self._cipher.encrypt(refresh)


async def mark_needs_reconnect(
    conn: asyncpg.Connection | asyncpg.Pool, reason: str, *, status: CredentialStatus = CredentialStatus.NEEDS_RECONNECT
) -> bool:
    """The connection can no longer be used (Lexoffice's `token.revoked`, an `invalid_grant` on refresh): bookings
    wait until an operator connects again at /v1/lexoffice/connect. False when nothing was connected."""
    result = await conn.execute(
        """
        UPDATE integration_credentials SET status = $3, status_reason = $4, updated_at = now()
        WHERE provider = $1 AND subject = $2
        """,
        PROVIDER,
        SUBJECT,
        status.value,
        reason,
    )
    return bool(result == "UPDATE 1")
