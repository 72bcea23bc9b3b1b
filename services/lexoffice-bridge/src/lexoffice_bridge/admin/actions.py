"""The operator's actions on a document, each recorded in the booking ledger with the operator as `actor`.

Both run in one transaction under the document's advisory lock (the one `ledger.record_once` takes), so a ledger
row and the effect rows it speaks of change together. The ledger is append-only: an action adds a row, never edits one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from intplat_common.effects import PENDING_STATUSES

from .. import ledger
from ..effects import EFFECTS_CHANNEL
from ..ledger import EntryKind, LedgerEntry
from .queries import DocumentHistory, contact_effect_keys, document_history, own_effect_keys

# States an operator may book by hand: everything not booked with its file yet.
OPEN_KINDS = ("queued", "booked", "retry_requested", "failed", "needs_manual_booking")


def retryable(history: DocumentHistory) -> bool:
    return any(effect["status"] == "dead" for effect in history.effects)


def can_mark_booked(history: DocumentHistory) -> bool:
    return history.current["kind"] in OPEN_KINDS


class ActionRefused(Exception):
    """The action does not apply to the document as it is now; `code` names why (the page explains it)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _follow_up(history: DocumentHistory, kind: EntryKind, actor: str, **values: Any) -> LedgerEntry:
    """A new row for the document, carrying what its latest row says about it."""
    now = history.current
    return LedgerEntry(
        document_key=now["document_key"],
        source=now["source"],
        kind=kind,
        document_type=now["document_type"],
        lexoffice_id=now["lexoffice_id"],
        voucher_number=now["voucher_number"],
        amount=now["amount"],
        currency=now["currency"],
        actor=actor,
        **values,
    )


async def _locked_history(conn: asyncpg.Connection, document_key: str) -> DocumentHistory:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", document_key)
    history = await document_history(conn, document_key)
    if history is None:
        raise ActionRefused("unknown_document")
    return history


async def retry_document(pool: asyncpg.Pool, document_key: str, *, actor: str = "lexoffice-bridge") -> list[str]:
    """Re-queue the document's dead effect rows (and its customer's dead contact row, which its voucher waits on)
    and record `retry_requested`; returns the re-queued effect keys. `ActionRefused("nothing_to_retry")` when none
    is dead (nothing is recorded then)."""
    async with pool.acquire() as conn, conn.transaction():
        history = await _locked_history(conn, document_key)
        keys = [*contact_effect_keys(history.ledger), *own_effect_keys(history.ledger)]
        requeued: list[str] = [
            row["effect_key"]
            for row in await conn.fetch(
                """
                UPDATE lexoffice_effects SET status = 'queued', next_attempt_at = now(), claim_token = NULL,
                                             lease_until = NULL, updated_at = now()
                WHERE effect_key = ANY($1::text[]) AND status = 'dead'
                RETURNING effect_key
                """,
                keys,
            )
        ]
        if not requeued:
            raise ActionRefused("nothing_to_retry")
        await ledger.record(conn, _follow_up(history, "retry_requested", actor, details={"effects": sorted(requeued)}))
        await conn.execute("SELECT pg_notify($1, '')", EFFECTS_CHANNEL)  # delivered at commit: the booker wakes
    return sorted(requeued)


@dataclass(frozen=True)
class ManualBooking:
    """What the operator says about the document booked in Lexware by hand."""

    document_number: str  # the Lexoffice voucher or invoice number
    note: str


async def mark_booked_manually(
    pool: asyncpg.Pool, document_key: str, booking: ManualBooking, *, actor: str
) -> list[str]:
    """Record `booked_manually` and end every unfinished effect row of the document as `manual`, so nothing calls
    Lexoffice for it again; returns the ended effect keys. Refused while one of its calls is in flight, and for a
    document already booked. The customer's contact row is shared with other documents and stays as it is."""
    async with pool.acquire() as conn, conn.transaction():
        history = await _locked_history(conn, document_key)
        if not can_mark_booked(history):
            raise ActionRefused("already_booked")
        keys = own_effect_keys(history.ledger)
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
        await ledger.record(conn, _follow_up(history, "booked_manually", actor, reason=booking.note, details=details))
    return sorted(ended)
