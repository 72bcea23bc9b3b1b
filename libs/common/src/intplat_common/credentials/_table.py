"""The `integration_credentials` table a service's migration creates, and how its encrypted columns are described."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .._sql import check_identifier


class CredentialStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"
    REVOKED = "revoked"


@dataclass(frozen=True)
class EncryptedColumns:
    """Where encrypted values live: the table, its key column and the columns holding `<key id>:<token>` values.

    Names go into SQL text, so they must be plain lower-case identifiers (checked here).
    """

    table: str = "integration_credentials"
    id_column: str = "id"
    columns: tuple[str, ...] = ("access_token_encrypted", "refresh_token_encrypted")

    def __post_init__(self) -> None:
        for name in (self.table, self.id_column, *self.columns):
            check_identifier(name)
        if not self.columns:
            raise ValueError("at least one encrypted column")


def credentials_table_ddl(table: str = "integration_credentials") -> tuple[str, ...]:
    """Statements for a migration: one row per connected provider account, tokens encrypted (`CredentialCipher`).

    `key_id` is derived from the access token's prefix, so it always names the key that encrypted the row; the
    operator's query for rows on an old key is `SELECT count(*) FROM integration_credentials WHERE key_id = 'old'`.
    """
    EncryptedColumns(table=table)
    statuses = ", ".join(f"'{status.value}'" for status in CredentialStatus)
    return (
        f"""
        CREATE TABLE {table} (
            id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            provider                text NOT NULL,
            subject                 text NOT NULL,
            access_token_encrypted  text NOT NULL,
            refresh_token_encrypted text,
            key_id                  text GENERATED ALWAYS AS (split_part(access_token_encrypted, ':', 1)) STORED,
            scopes                  text[] NOT NULL DEFAULT '{{}}',
            expires_at              timestamptz,
            refreshed_at            timestamptz,
            status                  text NOT NULL DEFAULT 'active' CHECK (status IN ({statuses})),
            status_reason           text,
            created_at              timestamptz NOT NULL DEFAULT now(),
            updated_at              timestamptz NOT NULL DEFAULT now(),
            UNIQUE (provider, subject)
        )
        """,
        f"CREATE INDEX {table}_key_id_idx ON {table} (key_id)",
        f"CREATE INDEX {table}_due_idx ON {table} (expires_at) WHERE status = 'active'",
    )
