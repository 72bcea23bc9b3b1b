"""Rotation of stored credentials in a real PostgreSQL table created by `credentials_table_ddl`."""

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from intplat_common import create_pool
from intplat_common.credentials import (
    CredentialCipher,
    EncryptedColumns,
    EncryptionKey,
    credentials_table_ddl,
    rotate_credentials,
)

pytestmark = pytest.mark.integration

KEY_A = EncryptionKey.generate("a")
KEY_B = EncryptionKey.generate("b")
ROWS = 250


@pytest.fixture
async def table(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, max_size=4)
    for statement in credentials_table_ddl():
        await pool.execute(statement)
    yield pool
    await pool.close()


async def _insert(pool: asyncpg.Pool, cipher: CredentialCipher, count: int) -> None:
    await pool.executemany(
        "INSERT INTO integration_credentials (provider, subject, access_token_encrypted, refresh_token_encrypted)"
        " VALUES ('lexoffice', $1, $2, $3)",
        [
            (f"acct-{i}", cipher.encrypt(f"access-{i}"), None if i % 3 == 0 else cipher.encrypt(f"refresh-{i}"))
            for i in range(count)
        ],
    )


async def _plaintexts(pool: asyncpg.Pool, cipher: CredentialCipher) -> dict[str, tuple[str, str | None]]:
    rows = await pool.fetch(
        "SELECT subject, access_token_encrypted, refresh_token_encrypted FROM integration_credentials"
    )
    return {
        row["subject"]: (
            cipher.decrypt(row["access_token_encrypted"]),
            None if row["refresh_token_encrypted"] is None else cipher.decrypt(row["refresh_token_encrypted"]),
        )
        for row in rows
    }


async def test_rotation_moves_every_row_to_the_new_key(table: asyncpg.Pool) -> None:
    await _insert(table, CredentialCipher([KEY_A]), ROWS)
    before = await _plaintexts(table, CredentialCipher([KEY_A]))

    report = await rotate_credentials(table, EncryptedColumns(), CredentialCipher([KEY_B, KEY_A]), batch_size=40)

    assert (report.rotated, report.changed_meanwhile, report.remaining) == (ROWS, 0, 0)
    assert await table.fetch("SELECT key_id, count(*) FROM integration_credentials GROUP BY key_id") == [("b", ROWS)]
    assert await _plaintexts(table, CredentialCipher([KEY_B])) == before
    again = await rotate_credentials(table, EncryptedColumns(), CredentialCipher([KEY_B, KEY_A]))
    assert (again.rotated, again.remaining) == (0, 0)


async def test_a_row_with_only_its_refresh_token_on_the_old_key_is_rotated(table: asyncpg.Pool) -> None:
    old, new = CredentialCipher([KEY_A]), CredentialCipher([KEY_B, KEY_A])
    await table.execute(
        "INSERT INTO integration_credentials (provider, subject, access_token_encrypted, refresh_token_encrypted)"
        " VALUES ('lexoffice', 'mixed', $1, $2)",
        new.encrypt("access"),
        old.encrypt("refresh"),
    )
    report = await rotate_credentials(table, EncryptedColumns(), new)
    assert (report.rotated, report.remaining) == (1, 0)
    assert await _plaintexts(table, CredentialCipher([KEY_B])) == {"mixed": ("access", "refresh")}


class RefreshDuringRotation:
    """A pool whose first UPDATE from the rotation is preceded by a token refresh of the same row (another process)."""

    def __init__(self, pool: asyncpg.Pool, writer: CredentialCipher) -> None:
        self._pool = pool
        self._writer = writer
        self.refreshed = False

    async def fetch(self, *args: Any) -> Any:
        return await self._pool.fetch(*args)

    async def fetchval(self, *args: Any) -> Any:
        return await self._pool.fetchval(*args)

    async def execute(self, query: str, row_id: int, *args: Any) -> Any:
        if not self.refreshed:
            self.refreshed = True
            await self._pool.execute(
                "UPDATE integration_credentials SET access_token_encrypted = $2, refresh_token_encrypted = $3"
                " WHERE id = $1",
                row_id,
                self._writer.encrypt("access-refreshed"),
                self._writer.encrypt("refresh-refreshed"),
            )
        return await self._pool.execute(query, row_id, *args)


@pytest.mark.parametrize("writer_keys", [[KEY_B, KEY_A], [KEY_A]], ids=["writer-on-new-keys", "writer-on-old-keys"])
async def test_a_concurrent_refresh_wins_and_no_row_is_lost(
    table: asyncpg.Pool, writer_keys: list[EncryptionKey]
) -> None:
    await _insert(table, CredentialCipher([KEY_A]), 10)
    racing = RefreshDuringRotation(table, CredentialCipher(writer_keys))

    report = await rotate_credentials(racing, EncryptedColumns(), CredentialCipher([KEY_B, KEY_A]), batch_size=4)

    writer_on_old_keys = writer_keys == [KEY_A]
    assert (report.rotated, report.changed_meanwhile, report.remaining) == (9, 1, int(writer_on_old_keys))
    values = await _plaintexts(table, CredentialCipher([KEY_B, KEY_A]))
    assert len(values) == 10
    assert values["acct-0"] == ("access-refreshed", "refresh-refreshed")
    assert all(values[f"acct-{i}"][0] == f"access-{i}" for i in range(1, 10))


async def test_the_table_records_key_id_and_refuses_unknown_statuses(table: asyncpg.Pool) -> None:
    await _insert(table, CredentialCipher([KEY_A]), 1)
    assert await table.fetchval("SELECT key_id FROM integration_credentials") == "a"
    await table.execute("UPDATE integration_credentials SET status = 'needs_reconnect'")
    with pytest.raises(asyncpg.CheckViolationError):
        await table.execute("UPDATE integration_credentials SET status = 'paused'")
    with pytest.raises(asyncpg.UniqueViolationError):
        await _insert(table, CredentialCipher([KEY_A]), 1)


def test_identifiers_must_be_plain() -> None:
    with pytest.raises(ValueError, match="identifier"):
        EncryptedColumns(table="credentials; DROP TABLE x")
    with pytest.raises(ValueError, match="identifier"):
        credentials_table_ddl("Bad-Name")
