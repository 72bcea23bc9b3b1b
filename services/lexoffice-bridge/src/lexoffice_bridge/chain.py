"""The steps of one document in order, and what a step does while an earlier one is not done.

A step whose precondition (the customer's contact, the booked voucher, the booked original of a refund) is not met
is parked as `waiting` with a deadline, without a call; the step that meets the precondition makes it due
(`effects.make_due`). At its deadline it looks again. When the earlier step is dead, the dependant ends dead too, with
a reason naming that step; `retry_document` (the admin's Retry) re-queues a document's dead steps in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from intplat_common.effects import Outcome

from . import effects, ledger
from .effects import EFFECTS, Effect
from .ledger import LedgerEntry

DEAD_STATUSES = ("dead", "manual")
# Earlier steps first: a contact before the voucher or credit document that names it, the document before its file.
STEP_RANK: Mapping[str, int] = {"contact": 0, "voucher": 1, "credit": 1, "voucher_file": 2, "credit_file": 2}


@dataclass(frozen=True)
class DeadStep:
    effect_key: str
    status: str
    error: str | None

    @property
    def reason(self) -> str:
        return f"the earlier step {self.effect_key} is {self.status}: {self.error or 'no reason recorded'}"


async def dead_step(pool: asyncpg.Pool, effect_key: str) -> DeadStep | None:
    """The earlier step `effect_key` when it ended dead (or manual); None while it is pending, done or absent."""
    row = await pool.fetchrow(
        "SELECT status, error FROM lexoffice_effects WHERE effect_key = $1 AND status = ANY($2::text[])",
        effect_key,
        list(DEAD_STATUSES),
    )
    return DeadStep(effect_key, row["status"], row["error"]) if row is not None else None


async def park(
    pool: asyncpg.Pool, row: Effect, reason: str, *, deadline_seconds: float, met: Callable[[], Awaitable[bool]]
) -> Outcome:
    """Park `row` as waiting until its deadline, then look at the precondition once more.

    The row is parked before that second look, and the step that meets the precondition records it before it makes
    its dependants due: whichever of the two runs last sees the other's write, so a wake-up is never lost between
    this row's first look and its parking. Returns the outcome for the worker, whose own parking of the row is then a
    no-op (the row is no longer `sending`).
    """
    await EFFECTS.wait(pool, row.id, row.claim_token, deadline_seconds=deadline_seconds, reason=reason)
    if await met():
        await effects.make_due(pool, "id = $1", row.id)
    return Outcome.wait(reason, deadline_seconds=deadline_seconds)


async def end_dead(pool: asyncpg.Pool, row: Effect, outcome: Outcome, wake: Callable[[], Awaitable[None]]) -> Outcome:
    """Settle `row` dead now, then make its dependants due so they see it dead (the worker's own settling of the
    returned outcome is then a no-op; it still counts it and alerts)."""
    await EFFECTS.mark_dead(
        pool,
        row.id,
        row.claim_token,
        status=outcome.status or EFFECTS.table.dead_status,
        reason=outcome.reason or "refused",
        code=outcome.code,
        answer=outcome.answer,
    )
    await wake()
    return outcome


# --- the admin's Retry ------------------------------------------------------------------------------------------


class UnknownDocument(LookupError):
    """No ledger row names this document."""


_DOCUMENT_ROWS = """
    WITH own AS (
        SELECT * FROM lexoffice_effects
        WHERE COALESCE(payload->>'document_key', payload->>'invoice_id') = $1
    )
    SELECT id, effect_key, kind, status FROM own
    UNION
    SELECT e.id, e.effect_key, e.kind, e.status FROM lexoffice_effects e
    WHERE e.kind = 'contact' AND e.payload->>'customer_id' IN (SELECT payload->>'customer_id' FROM own)
"""


async def retry_document(pool: asyncpg.Pool, document_key: str, *, actor: str = "admin") -> list[str]:
    """Re-queue the dead steps of one document (its contact, document and file; a manual-booking step stays as it
    is) in step order, and append a `retry_requested` ledger row naming them. Returns their effect keys, earliest
    step first (empty when nothing was dead; no ledger row then). A re-queued step is looked up at Lexoffice first
    when an earlier attempt may have taken effect (`needs_check` is kept); a later step waits for the earlier one
    as usual."""
    latest = await ledger.current(pool, document_key)
    if latest is None:
        raise UnknownDocument(document_key)
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_DOCUMENT_ROWS, document_key)
        dead = sorted((r for r in rows if r["status"] == "dead"), key=lambda r: STEP_RANK.get(r["kind"], 9))
        if not dead:
            return []
        await effects.requeue(conn, [r["id"] for r in dead])
        keys = [str(r["effect_key"]) for r in dead]
        await ledger.record(conn, _retry_entry(latest, keys, actor))
    return keys


def _retry_entry(latest: Mapping[str, Any], keys: list[str], actor: str) -> LedgerEntry:
    return LedgerEntry(
        document_key=latest["document_key"],
        source=latest["source"],
        kind="retry_requested",
        document_type=latest["document_type"],
        lexoffice_id=latest["lexoffice_id"],
        voucher_number=latest["voucher_number"],
        amount=latest["amount"],
        currency=latest["currency"],
        details={"effects": keys},
        actor=actor,
    )
