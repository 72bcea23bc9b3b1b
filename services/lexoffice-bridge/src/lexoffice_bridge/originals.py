"""The original document a refund corrects, as our booking ledger knows it: booked (and how), waiting to be booked,
failed, or left to a human."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import asyncpg

from . import ledger
from .refunds import RefundPlan

OriginalState = Literal["booked", "pending", "failed", "manual"]


@dataclass(frozen=True)
class Original:
    document_key: str  # the Stripe invoice or checkout session
    state: OriginalState
    document_type: str | None = None  # voucher (path 1) or invoice (path 2), once booked
    lexoffice_id: str | None = None
    voucher_number: str | None = None
    contact_id: str | None = None
    reason: str | None = None  # why it failed or needs a human


async def original_key(conn: asyncpg.Pool | asyncpg.Connection, plan: RefundPlan) -> str | None:
    """A credit note names its invoice; a plain refund its payment, which the original's `queued` row recorded."""
    if plan.original_key is not None or plan.payment_intent_id is None:
        return plan.original_key
    key: str | None = await conn.fetchval(
        "SELECT document_key FROM booking_ledger WHERE details->>'payment_intent_id' = $1"
        " AND source IN ('stripe_invoice', 'stripe_checkout') ORDER BY id LIMIT 1",
        plan.payment_intent_id,
    )
    return key


async def find(conn: asyncpg.Pool | asyncpg.Connection, plan: RefundPlan) -> Original | None:
    """The refund's original, or None while no event of it has arrived."""
    key = await original_key(conn, plan)
    if key is None:
        return None
    rows = await ledger.history(conn, key)
    if not rows:
        return None
    booked = next((r for r in rows if r["kind"] == "booked"), None)
    if booked is not None:
        return Original(
            key,
            "booked",
            booked["document_type"],
            booked["lexoffice_id"],
            booked["voucher_number"],
            booked["details"].get("contact_id"),
        )
    latest = rows[-1]
    if latest["kind"] in ("needs_manual_booking", "booked_manually"):
        return Original(key, "manual", latest["document_type"], reason=latest["reason"] or latest["kind"])
    if latest["kind"] == "failed":
        return Original(key, "failed", latest["document_type"], reason=latest["reason"])
    return Original(key, "pending", latest["document_type"])
