"""The operator's actions on a document, each recorded in the booking ledger with the operator as `actor`.

Both run in one transaction under the document's advisory lock (the one `ledger.record_once` takes), so a ledger
row and the effect rows it speaks of change together. The ledger is append-only: an action adds a row, never edits
one. Retry is `chain.retry_document`, re-exported here: the order of a document's steps lives there.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from intplat_common.effects import PENDING_STATUSES

from .. import chain, effects, ledger
from ..chain import ActionRefused, retry_document
from .queries import DocumentHistory, own_effect_keys

# States an operator may book by hand: everything not booked with its file yet.
OPEN_KINDS = ("queued", "booked", "retry_requested", "failed", "needs_manual_booking")


def retryable(history: DocumentHistory) -> bool:
    return any(effect["status"] == "dead" for effect in history.effects)


def can_mark_booked(history: DocumentHistory) -> bool:
    return history.current["kind"] in OPEN_KINDS


async def _locked_history(conn: asyncpg.Connection, document_key: str) -> DocumentHistory:
    rows = await chain.locked_history(conn, document_key)
    return DocumentHistory(rows, await effects.document_effects(conn, document_key))


@dataclass(frozen=True)
class ManualBooking:
    """What the operator says about the document booked in Lexware by hand."""

    document_number: str  # the Lexoffice voucher or invoice number
    note: str


async def mark_booked_manually(
    pool: asyncpg.Pool, document_key: str, booking: ManualBooking, *, actor: str
) -> list[str]:
    """Record `booked_manually` and end every unfinished effect row of the document as `manual`, so nothing calls
    Lexoffice for it again (the refunds waiting for it look again: they are manual too); returns the ended effect
    keys. Refused while one of its calls is in flight, and for a
    document already booked. The customer's contact row is shared with other documents and stays as it is."""
    async with pool.acquire() as conn, conn.transaction():
        history = await _locked_history(conn, document_key)
        if not can_mark_booked(history):
            raise ActionRefused("already_booked")
        keys = own_effect_keys(history.effects)
        # Locked rows are skipped by the worker's claim (SKIP LOCKED): none can start a call until we commit.
        statuses = await conn.fetch(
            "SELECT effect_key, status FROM lexoffice_effects WHERE effect_key = ANY($1::text[]) FOR UPDATE", keys
        )
        if any(row["status"] == "sending" for row in statuses):
            raise ActionRefused("call_in_flight")
        ended: list[str] = [
            row["effect_key"]
            for row in await conn.fetch(
                """
                UPDATE lexoffice_effects SET status = 'manual', lease_until = NULL, updated_at = now()
                WHERE effect_key = ANY($1::text[]) AND status = ANY($2::text[])
                RETURNING effect_key
                """,
                keys,
                [*PENDING_STATUSES, "dead"],
            )
        ]
        details = {"lexoffice_document_number": booking.document_number, "effects_ended": sorted(ended)}
        entry = chain.follow_up(history.current, "booked_manually", actor, reason=booking.note, details=details)
        await ledger.record(conn, entry)
        await effects.refunds_due(conn, document_key)  # a refund waiting for it is left to the human too
    return sorted(ended)


__all__ = ["ActionRefused", "ManualBooking", "can_mark_booked", "mark_booked_manually", "retry_document", "retryable"]
