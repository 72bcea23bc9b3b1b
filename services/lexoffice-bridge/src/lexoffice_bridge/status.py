"""What Lexoffice says about a document we booked (its status, its open amount), recorded in the booking ledger as a
new row only when it differs from what the ledger knows: a redelivered callback, an out-of-order one, or the
voucherlist repeating a known state appends nothing.

Both readers use it: the callback processor (`GET /v1/payments/{id}`) and the voucherlist reconciliation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from . import ledger
from .ledger import DocumentType, EntryKind, LedgerEntry, Source

# A document in one of these states changes no more by itself: the reconciliation stops looking at it.
FINAL_STATUSES = frozenset({"paid", "paidoff", "voided"})
# The voucherlist reports an open document past its due date as `overdue`: a view of `open`, not a change.
_SAME_AS = {"overdue": "open"}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class BookedDocument:
    """A Lexoffice document the bridge created (its `booked` ledger row)."""

    document_key: str
    source: Source
    document_type: DocumentType | None
    lexoffice_id: str
    voucher_number: str | None
    amount: Decimal | None
    currency: str | None
    lexoffice_type: str | None = None  # a refund's: salescreditnote (a voucher) or credit-note

    @property
    def resource(self) -> Literal["invoice", "credit_note", "voucher"]:
        """Where Lexoffice keeps it: a refund of a Stripe invoice is a salescreditnote voucher, not a credit note."""
        if self.document_type == "invoice":
            return "invoice"
        if self.document_type == "credit_note" and self.lexoffice_type != "salescreditnote":
            return "credit_note"
        return "voucher"

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> BookedDocument:
        return cls(
            document_key=row["document_key"],
            source=row["source"],
            document_type=row["document_type"],
            lexoffice_id=row["lexoffice_id"],
            voucher_number=row["voucher_number"],
            amount=row["amount"],
            currency=row["currency"],
            lexoffice_type=row["lexoffice_type"],
        )


@dataclass(frozen=True)
class Observation:
    """One reading of a document in Lexoffice. `open_amount` is None when the reading has none (a draft has no
    payment information)."""

    voucher_status: str
    open_amount: Decimal | None
    via: Literal["callback", "voucherlist"]
    read: Mapping[str, Any]  # what was read, kept in the row's details


_BOOKED_COLUMNS = (
    "document_key, source, document_type, lexoffice_id, voucher_number, amount, currency,"
    " details->>'lexoffice_type' AS lexoffice_type"
)


async def booked_document(conn: asyncpg.Pool | asyncpg.Connection, lexoffice_id: str) -> BookedDocument | None:
    row = await conn.fetchrow(
        f"SELECT {_BOOKED_COLUMNS} FROM booking_ledger WHERE lexoffice_id = $1 AND kind = 'booked' ORDER BY id LIMIT 1",  # noqa: S608 - fixed columns
        lexoffice_id,
    )
    return BookedDocument.from_record(row) if row is not None else None


async def open_documents(conn: asyncpg.Pool | asyncpg.Connection) -> list[tuple[BookedDocument, str]]:
    """Every booked document whose last known status is not final, with the Berlin day it was booked on."""
    rows = await conn.fetch(
        f"""
        WITH booked AS (
            SELECT DISTINCT ON (document_key) {_BOOKED_COLUMNS}, recorded_at FROM booking_ledger
            WHERE kind = 'booked' ORDER BY document_key, id
        ), status AS (
            SELECT DISTINCT ON (document_key) document_key, details->>'voucherStatus' AS voucher_status
            FROM booking_ledger WHERE kind = 'status_changed' ORDER BY document_key, id DESC
        )
        SELECT booked.*, (booked.recorded_at AT TIME ZONE 'Europe/Berlin')::date::text AS booked_day
        FROM booked LEFT JOIN status USING (document_key)
        WHERE status.voucher_status IS NULL OR NOT (status.voucher_status = ANY($1::text[]))
        """,  # noqa: S608 - fixed columns
        sorted(FINAL_STATUSES),
    )
    return [(BookedDocument.from_record(row), row["booked_day"]) for row in rows]


async def record_observation(pool: asyncpg.Pool, document: BookedDocument, seen: Observation) -> list[EntryKind]:
    """Appends `status_changed` when the status differs from the last one known (a booked document starts open) and
    `payment_changed` when the open amount differs from the last one known (it starts at the document's amount).
    Returns the kinds appended."""
    status = _SAME_AS.get(seen.voucher_status, seen.voucher_status)
    async with pool.acquire() as conn, conn.transaction():
        # Serialises readers of one document (two callbacks, or a callback and the reconciliation): the comparison
        # and the insert see the same latest rows. The ledger is append-only, so there is no row to lock instead.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", document.document_key)
        known_status = await _latest(conn, document.document_key, "status_changed", "voucherStatus") or "open"
        known_open = await _latest(conn, document.document_key, "payment_changed", "openAmount")
        recorded: list[EntryKind] = []
        if status != known_status:
            await ledger.record(conn, _entry(document, "status_changed", f"Lexoffice: {status}", status, seen))
            recorded.append("status_changed")
        if seen.open_amount is not None:
            open_amount = seen.open_amount.quantize(CENT)
            before = Decimal(known_open) if known_open is not None else document.amount
            if before is None or open_amount != before.quantize(CENT):
                reason = f"Lexoffice: open amount {open_amount} {document.currency or 'EUR'}"
                await ledger.record(conn, _entry(document, "payment_changed", reason, status, seen, open_amount))
                recorded.append("payment_changed")
        return recorded


async def _latest(conn: asyncpg.Connection, document_key: str, kind: str, field: str) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT details->>$3 FROM booking_ledger WHERE document_key = $1 AND kind = $2 ORDER BY id DESC LIMIT 1",
        document_key,
        kind,
        field,
    )
    return value


def _entry(
    document: BookedDocument,
    kind: EntryKind,
    reason: str,
    status: str,
    seen: Observation,
    open_amount: Decimal | None = None,
) -> LedgerEntry:
    details: dict[str, Any] = {"voucherStatus": status, "via": seen.via, "read": dict(seen.read)}
    if open_amount is not None:
        details["openAmount"] = str(open_amount)
    return LedgerEntry(
        document_key=document.document_key,
        source=document.source,
        kind=kind,
        document_type=document.document_type,
        lexoffice_id=document.lexoffice_id,
        voucher_number=document.voucher_number,
        amount=document.amount,
        currency=document.currency,
        reason=reason,
        details=details,
    )
