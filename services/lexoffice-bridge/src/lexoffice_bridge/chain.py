"""The steps of one document in order, and what a step does while an earlier one is not done.

A step whose precondition (the customer's contact, the booked voucher, the booked original of a refund) is not met
is parked as `waiting` with a deadline, without a call; the step that meets the precondition makes it due
(`effects.make_due`). At its deadline it looks again. When the earlier step is dead, the dependant ends dead too, with
a reason naming that step; `retry_document` (the admin's Retry, admin/actions.py) re-queues a document's dead
steps in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from intplat_common.effects import Outcome

from . import contacts, effects, ledger
from .effects import EFFECTS, Effect
from .ledger import EntryKind, LedgerEntry

DEAD_STATUSES = ("dead", "manual")
# Earlier steps first: a contact before the voucher or credit document that names it, the document before its file.
STEP_RANK: Mapping[str, int] = {
    "contact": 0,
    "voucher": 1,
    "invoice": 1,
    "credit": 1,
    "voucher_file": 2,
    "invoice_file": 2,
    "credit_file": 2,
}


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


async def wait_for(
    pool: asyncpg.Pool,
    row: Effect,
    earlier: str,
    *,
    deadline_seconds: float,
    met: Callable[[], Awaitable[bool]],
    failed: Callable[[str], Awaitable[Outcome]],
) -> Outcome:
    """`row` waits for the step `earlier` (`park`). When that step is dead, `row` ends through `failed(reason)`
    (which records it and ends it dead); when it was left to a human, `row` is manual too, quietly (the earlier
    step recorded and alerted why)."""
    dead = await dead_step(pool, earlier)
    if dead is not None and dead.status == "manual":
        return Outcome.dead(dead.reason, status="manual")
    if dead is not None:
        return await failed(dead.reason)
    return await park(pool, row, f"waiting for {earlier}", deadline_seconds=deadline_seconds, met=met)


def contact_linked(pool: asyncpg.Pool, customer_id: str) -> Callable[[], Awaitable[bool]]:
    """The precondition "the customer's contact is linked" (for `park` / `wait_for`)."""

    async def met() -> bool:
        return await contacts.find(pool, customer_id) is not None

    return met


def document_booked(pool: asyncpg.Pool, document_key: str) -> Callable[[], Awaitable[bool]]:
    """The precondition "the document has its `booked` ledger row" (for `park` / `wait_for`)."""

    async def met() -> bool:
        return await ledger.booked_voucher(pool, document_key) is not None

    return met


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


class ActionRefused(Exception):
    """An operator's action does not apply to the document as it is now; `code` names why (the admin page
    explains it)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class UnknownDocument(ActionRefused, LookupError):
    """No ledger row names this document."""

    def __init__(self, document_key: str) -> None:
        super().__init__("unknown_document")
        self.document_key = document_key


async def locked_history(conn: asyncpg.Connection, document_key: str) -> list[asyncpg.Record]:
    """The document's ledger rows under its advisory lock (the one `ledger.record_once` takes), in the caller's
    transaction: a ledger row and the effect rows it speaks of then change together."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", document_key)
    rows = await ledger.history(conn, document_key)
    if not rows:
        raise UnknownDocument(document_key)
    return rows


async def retry_document(pool: asyncpg.Pool, document_key: str, *, actor: str = "lexoffice-bridge") -> list[str]:
    """Re-queue the dead steps of one document (its own rows, found by the document their payload names, and its
    customer's dead contact row, which it waits on; a manual step stays as it is) in step order, wake the booker and
    append a `retry_requested` ledger row naming them and `actor`. Returns their effect keys, earliest step first.
    `ActionRefused("nothing_to_retry")` when none is dead (nothing is recorded then), `UnknownDocument` without a
    ledger row. Dependants that ended dead because of an earlier step are re-queued with it; each waits for the
    earlier one as usual. A re-queued step is looked up at Lexoffice first when an earlier attempt may have taken
    effect (`needs_check` is kept)."""
    async with pool.acquire() as conn, conn.transaction():
        history = await locked_history(conn, document_key)
        rows = await effects.document_effects(conn, document_key)
        dead = sorted((r for r in rows if r["status"] == "dead"), key=lambda r: STEP_RANK.get(r["kind"], 9))
        if not dead:
            raise ActionRefused("nothing_to_retry")
        await effects.requeue(conn, [r["id"] for r in dead])  # notifies at commit: the booker wakes
        keys = [str(r["effect_key"]) for r in dead]
        await ledger.record(conn, follow_up(history[-1], "retry_requested", actor, details={"effects": keys}))
    return keys


def follow_up(latest: Mapping[str, Any], kind: EntryKind, actor: str, **values: Any) -> LedgerEntry:
    """A new ledger row for the document, carrying what its latest row says about it."""
    return LedgerEntry(
        document_key=latest["document_key"],
        source=latest["source"],
        kind=kind,
        document_type=latest["document_type"],
        lexoffice_id=latest["lexoffice_id"],
        voucher_number=latest["voucher_number"],
        amount=latest["amount"],
        currency=latest["currency"],
        actor=actor,
        **values,
    )
