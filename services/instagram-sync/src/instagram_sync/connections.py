"""Connected Instagram accounts and their tokens (encrypted in `integration_credentials`, one row per account)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from intplat_common import enqueue
from intplat_common.credentials import CredentialCipher, CredentialStatus
from intplat_common.events import ExpiryReason, InstagramConnectionExpiring

from .events import outbox_message
from .graph.ports import Login, LongLivedToken

PROVIDERS: dict[Login, str] = {"facebook": "facebook_login", "instagram": "instagram_login"}


@dataclass(frozen=True)
class Connection:
    account_id: str
    customer_id: str
    login: Login
    username: str | None
    owner_email: str | None
    status: CredentialStatus
    status_reason: str | None
    expires_at: datetime | None
    refreshed_at: datetime | None
    created_at: datetime
    token: str

    @property
    def active(self) -> bool:
        return self.status == CredentialStatus.ACTIVE


_SELECT = """
    SELECT a.account_id, a.customer_id, a.login, a.username, a.owner_email, c.status, c.status_reason, c.expires_at,
           c.refreshed_at, c.created_at, c.access_token_encrypted
    FROM instagram_accounts a JOIN integration_credentials c ON c.id = a.credential_id
"""


class Connections:
    def __init__(self, pool: asyncpg.Pool, cipher: CredentialCipher) -> None:
        self.pool = pool
        self._cipher = cipher

    def _connection(self, row: asyncpg.Record) -> Connection:
        return Connection(
            account_id=row["account_id"],
            customer_id=row["customer_id"],
            login=row["login"],
            username=row["username"],
            owner_email=row["owner_email"],
            status=CredentialStatus(row["status"]),
            status_reason=row["status_reason"],
            expires_at=row["expires_at"],
            refreshed_at=row["refreshed_at"],
            created_at=row["created_at"],
            token=self._cipher.decrypt(row["access_token_encrypted"]),
        )

    async def get(self, account_id: str) -> Connection | None:
        row = await self.pool.fetchrow(f"{_SELECT} WHERE a.account_id = $1", account_id)
        return None if row is None else self._connection(row)

    async def of_customer(self, customer_id: str) -> list[Connection]:
        rows = await self.pool.fetch(f"{_SELECT} WHERE a.customer_id = $1", customer_id)
        return [self._connection(row) for row in rows]

    async def expiring(self, login: Login, before: datetime) -> list[Connection]:
        """Active connections of one login whose token expires before `before`."""
        rows = await self.pool.fetch(
            f"{_SELECT} WHERE a.login = $1 AND c.status = 'active' AND c.expires_at < $2", login, before
        )
        return [self._connection(row) for row in rows]

    async def refresh_due(
        self, *, refreshed_before: datetime, expiring_before: datetime, min_age: datetime
    ) -> list[Connection]:
        """Active Instagram Login connections whose token was refreshed before `refreshed_before`, or expires before
        `expiring_before` and is older than `min_age` (Meta refreshes only tokens at least 24 h old)."""
        rows = await self.pool.fetch(
            f"""{_SELECT} WHERE a.login = 'instagram' AND c.status = 'active' AND (
                coalesce(c.refreshed_at, c.created_at) < $1
                OR (c.expires_at < $2 AND coalesce(c.refreshed_at, c.created_at) < $3))""",
            refreshed_before,
            expiring_before,
            min_age,
        )
        return [self._connection(row) for row in rows]

    async def save(
        self,
        conn: asyncpg.Connection,
        *,
        account_id: str,
        customer_id: str,
        login: Login,
        token: LongLivedToken,
        scopes: Sequence[str],
        page_id: str | None,
        username: str | None,
        now: datetime,
    ) -> None:
        """Connects (or reconnects) an account: a fresh token (obtained at `now`), active again; in the caller's
        transaction."""
        credential_id = await conn.fetchval(
            """
            INSERT INTO integration_credentials (provider, subject, access_token_encrypted, scopes, expires_at,
                                                 refreshed_at, status)
            VALUES ($1, $2, $3, $4, $5, $6, 'active')
            ON CONFLICT (provider, subject) DO UPDATE SET
                access_token_encrypted = EXCLUDED.access_token_encrypted, scopes = EXCLUDED.scopes,
                expires_at = EXCLUDED.expires_at, refreshed_at = EXCLUDED.refreshed_at, status = 'active',
                status_reason = NULL,
                updated_at = now()
            RETURNING id
            """,
            PROVIDERS[login],
            account_id,
            self._cipher.encrypt(token.access_token),
            list(scopes),
            token.expires_at,
            now,
        )
        await conn.execute(
            """
            INSERT INTO instagram_accounts (account_id, customer_id, login, credential_id, page_id, username)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (account_id) DO UPDATE SET
                customer_id = EXCLUDED.customer_id, login = EXCLUDED.login, credential_id = EXCLUDED.credential_id,
                page_id = EXCLUDED.page_id, username = coalesce(EXCLUDED.username, instagram_accounts.username),
                connected_at = now(), disconnected_at = NULL
            """,
            account_id,
            customer_id,
            login,
            credential_id,
            page_id,
            username,
        )

    async def replace_token(self, account_id: str, token: LongLivedToken, now: datetime) -> None:
        await self.pool.execute(
            """
            UPDATE integration_credentials c SET access_token_encrypted = $2, expires_at = $3, refreshed_at = $4,
                updated_at = now()
            FROM instagram_accounts a WHERE a.credential_id = c.id AND a.account_id = $1
            """,
            account_id,
            self._cipher.encrypt(token.access_token),
            token.expires_at,
            now,
        )

    async def needs_reconnect(self, connection: Connection, reason: ExpiryReason, detail: str, now: datetime) -> bool:
        """Marks the connection and tells the client once (one event per change of status). False when it was not
        active any more."""
        async with self.pool.acquire() as conn, conn.transaction():
            changed = await conn.fetchval(
                """
                UPDATE integration_credentials c SET status = 'needs_reconnect', status_reason = $2, updated_at = now()
                FROM instagram_accounts a
                WHERE a.credential_id = c.id AND a.account_id = $1 AND c.status = 'active'
                RETURNING c.id
                """,
                connection.account_id,
                detail[:500],
            )
            if changed is None:
                return False
            event = expiring_event(connection, reason, now)
            event_id = f"{connection.account_id}-{reason}-{now.isoformat()}"
            await enqueue(conn, [outbox_message(event, event_id=event_id, subject=connection.account_id)])
        return True

    async def disconnect(self, account_id: str) -> bool:
        """Forgets the account's token and stops its syncs; its snapshots stay."""
        async with self.pool.acquire() as conn, conn.transaction():
            credential_id = await conn.fetchval(
                "DELETE FROM instagram_accounts WHERE account_id = $1 RETURNING credential_id", account_id
            )
            await conn.execute("DELETE FROM integration_credentials WHERE id = $1", credential_id)
            await conn.execute("DELETE FROM sync_schedule WHERE account_id = $1", account_id)
        return credential_id is not None


def expiring_event(connection: Connection, reason: ExpiryReason, now: datetime) -> InstagramConnectionExpiring:
    return InstagramConnectionExpiring(
        account_id=connection.account_id,
        username=connection.username,
        owner_customer_id=connection.customer_id,
        owner_email=connection.owner_email,
        expires_at=connection.expires_at if reason == "token_expiring" and connection.expires_at else now,
        reason=reason,
    )
