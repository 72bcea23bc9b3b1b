"""What the admin page reads: documents by their current state (`booking_status`), and one document's history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import asyncpg

from .. import effects, ledger

StateFilter = Literal["open", "pending", "failed", "manual", "done", "all"]

# A document's state is the kind of its latest ledger row. `booked` without `file_attached` is still on its way.
PENDING_KINDS = ("queued", "booked", "retry_requested")
FAILED_KINDS = ("failed",)
MANUAL_KINDS = ("needs_manual_booking",)
DONE_KINDS = ("file_attached", "booked_manually", "payment_changed", "status_changed")
STATE_KINDS: dict[StateFilter, tuple[str, ...]] = {
    "open": PENDING_KINDS + FAILED_KINDS + MANUAL_KINDS,
    "pending": PENDING_KINDS,
    "failed": FAILED_KINDS,
    "manual": MANUAL_KINDS,
    "done": DONE_KINDS,
    "all": PENDING_KINDS + FAILED_KINDS + MANUAL_KINDS + DONE_KINDS,
}
BERLIN = ZoneInfo("Europe/Berlin")  # the books' time zone: a date filter means a German calendar day


@dataclass(frozen=True)
class DocumentFilter:
    state: StateFilter = "open"
    source: str | None = None
    since: date | None = None  # latest change on or after this day
    until: date | None = None  # latest change on or before this day
    text: str | None = None  # part of the Stripe id or the voucher number


@dataclass(frozen=True)
class Page:
    rows: list[asyncpg.Record]
    total: int
    number: int
    size: int

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.size))


def _day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), BERLIN) if day else None


def _like(text: str | None) -> str | None:
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def documents(pool: asyncpg.Pool, where: DocumentFilter, *, page: int, size: int) -> Page:
    """The documents whose latest row matches, most recently changed first."""
    rows: list[asyncpg.Record] = await pool.fetch(
        r"""
        SELECT document_key, source, kind, document_type, voucher_number, amount, currency, reason, actor,
               recorded_at, count(*) OVER () AS total
        FROM booking_status
        WHERE kind = ANY($1::text[])
          AND ($2::text IS NULL OR source = $2)
          AND ($3::timestamptz IS NULL OR recorded_at >= $3)
          AND ($4::timestamptz IS NULL OR recorded_at < $4)
          AND ($5::text IS NULL OR document_key ILIKE $5 ESCAPE '\' OR voucher_number ILIKE $5 ESCAPE '\')
        ORDER BY recorded_at DESC, document_key
        LIMIT $6 OFFSET $7
        """,
        list(STATE_KINDS[where.state]),
        where.source,
        _day_start(where.since),
        _day_start(where.until + timedelta(days=1) if where.until else None),
        _like(where.text),
        size,
        (page - 1) * size,
    )
    return Page(rows, int(rows[0]["total"]) if rows else 0, page, size)


def own_effect_keys(rows: Sequence[asyncpg.Record]) -> list[str]:
    """Of a document's effect rows (`effects.document_effects`), those that are its alone: all but the contact."""
    return sorted(row["effect_key"] for row in rows if row["kind"] != "contact")


@dataclass(frozen=True)
class DocumentHistory:
    ledger: list[asyncpg.Record]  # oldest first
    effects: list[asyncpg.Record]

    @property
    def current(self) -> asyncpg.Record:
        return self.ledger[-1]


async def document_history(conn: asyncpg.Pool | asyncpg.Connection, document_key: str) -> DocumentHistory | None:
    rows = await ledger.history(conn, document_key)
    if not rows:
        return None
    return DocumentHistory(rows, await effects.document_effects(conn, document_key))
