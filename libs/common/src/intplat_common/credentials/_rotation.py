"""Re-encrypting stored credentials under the first key (the `rotate-credentials` command of a service)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from ._cipher import CredentialCipher
from ._table import EncryptedColumns

log = logging.getLogger("intplat.credentials")


@dataclass(frozen=True)
class RotationReport:
    rotated: int
    changed_meanwhile: int
    """Rows whose values changed between read and write (a concurrent refresh); left as the writer left them."""
    remaining: int
    """Rows still holding a value under another key after the run (0 unless a writer still uses an old key)."""


async def rotate_credentials(
    pool: asyncpg.Pool, columns: EncryptedColumns, cipher: CredentialCipher, *, batch_size: int = 200
) -> RotationReport:
    """Re-encrypts every value not under the first key, in batches, one row per UPDATE.

    Each UPDATE carries the old values in its WHERE clause: a row a refresh rewrote in the meantime is left alone
    (the refresh wins, and it already wrote under the current keys), and every column of a row changes together.
    Idempotent: a second run finds nothing to do.
    """
    stale = " OR ".join(f"split_part({c}, ':', 1) <> $1" for c in columns.columns)
    select = f"SELECT {columns.id_column} AS id, {', '.join(columns.columns)} FROM {columns.table} WHERE ({stale})"  # noqa: S608 - identifiers checked by EncryptedColumns
    first_batch = f"{select} ORDER BY {columns.id_column} LIMIT $2"
    next_batch = f"{select} AND {columns.id_column} > $3 ORDER BY {columns.id_column} LIMIT $2"
    assignments = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns.columns))
    unchanged = " AND ".join(
        f"{c} IS NOT DISTINCT FROM ${i + 2 + len(columns.columns)}" for i, c in enumerate(columns.columns)
    )
    update = f"UPDATE {columns.table} SET {assignments} WHERE {columns.id_column} = $1 AND {unchanged}"  # noqa: S608 - identifiers checked by EncryptedColumns
    rotated = changed = 0
    # Keyset paging: a row left stale (changed meanwhile by a writer on an old key) is not read again.
    rows = await pool.fetch(first_batch, cipher.primary_key_id, batch_size)
    while rows:
        for row in rows:
            old = [row[c] for c in columns.columns]
            new = [None if value is None else cipher.rotate(value) for value in old]
            status = await pool.execute(update, row["id"], *new, *old)
            if status == "UPDATE 1":
                rotated += 1
            else:
                changed += 1
        rows = await pool.fetch(next_batch, cipher.primary_key_id, batch_size, rows[-1]["id"])
    remaining = await pool.fetchval(
        f"SELECT count(*) FROM {columns.table} WHERE {stale}",  # noqa: S608 - identifiers checked by EncryptedColumns
        cipher.primary_key_id,
    )
    report = RotationReport(rotated=rotated, changed_meanwhile=changed, remaining=remaining)
    log.info(
        "credentials rotated",
        extra={"fields": {"table": columns.table, "to_key": cipher.primary_key_id, **vars(report)}},
    )
    return report
