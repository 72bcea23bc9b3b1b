"""The booking ledger (GoBD): one row per booking record or status change of a document, never changed or deleted.

`booking_ledger` is append-only in the database itself (a trigger refuses UPDATE, DELETE and TRUNCATE); a
document's current state is its latest row (the `booking_status` view). Retention: at least 10 years (books and
records, §147 AO); nothing in this service deletes from it.

The effect ledger of the calls to Lexoffice (`lexoffice_effects`, in effects.py) is a different table: it
is the work queue (claimed, leased, retried), this one is the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from intplat_common import OutboxMessage, enqueue

Source = Literal["stripe_invoice", "stripe_checkout", "stripe_refund"]
EntryKind = Literal[
    "queued",
    "booked",
    "file_attached",
    "failed",
    "needs_manual_booking",
    "booked_manually",
    "retry_requested",
    "payment_changed",
    "status_changed",
    "superseded",
]
DocumentType = Literal["voucher", "invoice", "credit_note"]


@dataclass(frozen=True)
class LedgerEntry:
    document_key: str  # the Stripe invoice, checkout session or refund id
    source: Source
    kind: EntryKind
    document_type: DocumentType | None = None
    lexoffice_id: str | None = None
    voucher_number: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    actor: str = "lexoffice-bridge"


_INSERT = """
    INSERT INTO booking_ledger (document_key, source, kind, document_type, lexoffice_id, voucher_number, amount,
                                currency, reason, details, actor)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    RETURNING id
"""


async def record(conn: asyncpg.Pool | asyncpg.Connection, entry: LedgerEntry) -> int:
    """Appends one row (in the caller's transaction when given a connection); returns its id."""
    row_id: int = await conn.fetchval(
        _INSERT,
        entry.document_key,
        entry.source,
        entry.kind,
        entry.document_type,
        entry.lexoffice_id,
        entry.voucher_number,
        entry.amount,
        entry.currency,
        entry.reason,
        dict(entry.details),  # the pool's jsonb codec encodes it
        entry.actor,
    )
    return row_id


async def history(conn: asyncpg.Pool | asyncpg.Connection, document_key: str) -> list[asyncpg.Record]:
    """Every row of a document, oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM booking_ledger WHERE document_key = $1 ORDER BY id", document_key
    )
    return rows


async def current(conn: asyncpg.Pool | asyncpg.Connection, document_key: str) -> asyncpg.Record | None:
    """A document's latest row: its state now."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM booking_status WHERE document_key = $1", document_key
    )
    return row


async def record_once(pool: asyncpg.Pool, entry: LedgerEntry, messages: Sequence[OutboxMessage] = ()) -> bool:
    """Appends `entry` unless the document already has a row of its kind (a step learned twice, e.g. by a look-up
    after an ambiguous call, is recorded once); `messages` go to the outbox in the same transaction. True when
    recorded."""
    async with pool.acquire() as conn, conn.transaction():
        return await record_once_in(conn, entry, messages)


async def record_once_in(conn: asyncpg.Connection, entry: LedgerEntry, messages: Sequence[OutboxMessage] = ()) -> bool:
    """`record_once` in the caller's transaction (which may write more beside it)."""
    # Serialises the check and the insert per document (the table is append-only: no unique key per step).
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", entry.document_key)
    if await conn.fetchval(
        "SELECT 1 FROM booking_ledger WHERE document_key = $1 AND kind = $2", entry.document_key, entry.kind
    ):
        return False
    await record(conn, entry)
    await enqueue(conn, messages)
    return True


async def record_manual_once(conn: asyncpg.Connection, entry: LedgerEntry) -> bool:
    """Appends a `needs_manual_booking` row unless the document has one already (redelivered events). True when
    recorded."""
    if await conn.fetchval(
        "SELECT 1 FROM booking_ledger WHERE document_key = $1 AND kind = 'needs_manual_booking'", entry.document_key
    ):
        return False
    await record(conn, entry)
    return True


async def booked_voucher(conn: asyncpg.Pool | asyncpg.Connection, document_key: str) -> asyncpg.Record | None:
    """The document's `booked` row (its Lexoffice id and details), if it was booked."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM booking_ledger WHERE document_key = $1 AND kind = 'booked' ORDER BY id LIMIT 1", document_key
    )
    return row


async def booked_elsewhere(
    conn: asyncpg.Pool | asyncpg.Connection, lexoffice_ids: Sequence[str], document_key: str
) -> set[str]:
    """Which of these Lexoffice documents the bridge itself recorded as `booked` for a document other than
    `document_key` (from a create's answer or a look-up's certain match): each belongs to that other document."""
    if not lexoffice_ids:
        return set()
    rows = await conn.fetch(
        """
        SELECT DISTINCT lexoffice_id FROM booking_ledger
        WHERE lexoffice_id = ANY($1::text[]) AND kind = 'booked' AND document_key <> $2
        """,
        list(lexoffice_ids),
        document_key,
    )
    return {str(r["lexoffice_id"]) for r in rows}
