"""The intended Lexoffice calls of a booking, as rows of `lexoffice_effects` (the effect ledger).

A paid invoice becomes up to three rows, each written once (their `effect_key` is unique):
  contact:{stripe customer}   find or create the customer's contact (once per customer, whatever the invoice)
  voucher:{invoice number}    create the salesinvoice voucher (waits for the contact)
  file:{invoice number}       attach Stripe's PDF to it and publish the synced event (waits for the voucher)
A paid checkout without a Stripe invoice (path 2, checkout.py) becomes `contact`, `invoice:{session}` and
`invoice_file:{session}` rows. A refund or Stripe credit note becomes one or two (credit_notes.py):
  credit:{cn_ or re_ id}      create its credit document (waits for the original to be booked)
  credit_file:{cn_ id}        attach Stripe's credit note PDF to a credit voucher (waits for it)
A redelivered event, or a second event for the same invoice number, finds its keys taken and adds nothing. A row
whose precondition is not met yet waits without a call (chain.py); the step that meets it makes its dependants due.
Every row's payload names its document: `document_key` (path 2, refunds) or `invoice_id` (path 1).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
from opentelemetry import propagate

from intplat_common.effects import EffectLedger, EffectTable

from .planning import ContactPlan, SalePlan
from .refunds import RefundPlan

# invoice, invoice_file: booking path 2 (checkout.py); credit, credit_file: refunds (credit_notes.py).
EffectKind = Literal["contact", "voucher", "voucher_file", "invoice", "invoice_file", "credit", "credit_file"]


@dataclass(frozen=True)
class Effect:
    id: uuid.UUID
    effect_key: str
    kind: EffectKind
    payload: dict[str, Any]
    status: str
    needs_check: bool
    attempts: int
    next_attempt_at: datetime
    claim_token: uuid.UUID | None
    provider_ref: str | None
    error_code: int | None
    error: str | None
    answer: dict[str, Any] | None
    traceparent: str | None
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> Effect:
        return cls(**dict(record))


EFFECTS_CHANNEL = "lexoffice_effects"
# The claimed columns are the fields of `Effect`, which is built from each claimed record.
EFFECTS_TABLE = EffectTable(
    name="lexoffice_effects", channel=EFFECTS_CHANNEL, columns=tuple(Effect.__dataclass_fields__)
)
EFFECTS = EffectLedger(EFFECTS_TABLE)


def contact_key(customer_id: str) -> str:
    return f"contact:{customer_id}"


def voucher_key(invoice_number: str) -> str:
    return f"voucher:{invoice_number}"


def file_key(invoice_number: str) -> str:
    return f"file:{invoice_number}"


def credit_key(document_key: str) -> str:
    return f"credit:{document_key}"


def credit_file_key(document_key: str) -> str:
    return f"credit_file:{document_key}"


_INSERT = f"""
    WITH inserted AS (
        INSERT INTO lexoffice_effects (id, effect_key, kind, payload, traceparent)
        SELECT gen_random_uuid(), key, kind, payload::jsonb, $4::text
        FROM unnest($1::text[], $2::text[], $3::text[]) AS intent(key, kind, payload)
        ON CONFLICT (effect_key) DO NOTHING
        RETURNING effect_key
    )
    SELECT effect_key FROM inserted, (SELECT pg_notify('{EFFECTS_CHANNEL}', '')) AS wake
"""  # noqa: S608 - a fixed channel name, no input


async def record_sale(conn: asyncpg.Connection, sale: SalePlan, contact: ContactPlan | None) -> set[str]:
    """Write the sale's effects in the caller's transaction (the worker is woken at commit); returns the keys that
    were new. `contact` is None when the customer's contact is already linked."""
    intents: list[tuple[str, EffectKind, dict[str, Any]]] = []
    if contact is not None:
        intents.append((contact_key(contact.customer_id), "contact", contact.payload()))
    intents.append((voucher_key(sale.invoice_number), "voucher", sale.payload()))
    intents.append((file_key(sale.invoice_number), "voucher_file", sale.payload()))
    return await record_intents(conn, intents)


async def record_refund(conn: asyncpg.Connection, plan: RefundPlan) -> set[str]:
    """Write the refund's effects in the caller's transaction; returns the keys that were new."""
    intents: list[tuple[str, EffectKind, Mapping[str, Any]]] = [
        (credit_key(plan.document_key), "credit", plan.payload())
    ]
    if plan.pdf_url:
        intents.append((credit_file_key(plan.document_key), "credit_file", plan.payload()))
    return await record_intents(conn, intents)


async def record_intents(
    conn: asyncpg.Connection, intents: Sequence[tuple[str, EffectKind, Mapping[str, Any]]]
) -> set[str]:
    """Write effect rows (key, kind, payload) in the caller's transaction; returns the keys that were new."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    records = await conn.fetch(
        _INSERT,
        [key for key, _, _ in intents],
        [kind for _, kind, _ in intents],
        [json.dumps(payload) for _, _, payload in intents],
        carrier.get("traceparent"),
    )
    return {r["effect_key"] for r in records}


async def make_due(pool: asyncpg.Pool | asyncpg.Connection, where: str, *args: Any) -> None:
    """Rows waiting on a step that is now done (or dead) become due (and the worker is woken)."""
    await pool.execute(
        f"""
        WITH due AS (
            UPDATE lexoffice_effects SET status = 'queued', next_attempt_at = now(), updated_at = now()
            WHERE status IN ('queued', 'waiting') AND next_attempt_at > now() AND {where}
            RETURNING id
        )
        SELECT pg_notify('{EFFECTS_CHANNEL}', '') FROM (SELECT count(*) FROM due) AS n
        """,  # noqa: S608 - `where` is one of this module's fixed conditions
        *args,
    )


async def requeue(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> None:
    """Dead rows back to the queue with a fresh backoff, due one millisecond apart in the given order (so the worker
    claims an earlier step first); `needs_check` is kept: a row that may have taken effect is looked up first."""
    await conn.execute(
        f"""
        WITH due AS (
            UPDATE lexoffice_effects m SET status = 'queued', attempts = 0, claim_token = NULL, lease_until = NULL,
                next_attempt_at = now() + make_interval(secs => (ids.n - 1) / 1000.0),
                error = 'retry requested', error_code = NULL, answer = NULL, updated_at = now()
            FROM unnest($1::uuid[]) WITH ORDINALITY AS ids(id, n)
            WHERE m.id = ids.id AND m.status = 'dead'
            RETURNING m.id
        )
        SELECT pg_notify('{EFFECTS_CHANNEL}', '') FROM (SELECT count(*) FROM due) AS n
        """,  # noqa: S608 - a fixed channel name, no input
        list(ids),
    )


async def contact_again(conn: asyncpg.Connection, customer_id: str, reason: str) -> bool:
    """The customer's finished contact step runs again (find by e-mail, or create): its contact is gone from Lexoffice.
    True when the step is pending now (re-queued here, or not finished yet); False when the customer has none."""
    pending: int = await conn.fetchval(
        f"""
        WITH due AS (
            UPDATE lexoffice_effects SET status = 'queued', attempts = 0, needs_check = false, claim_token = NULL,
                lease_until = NULL, provider_ref = NULL, done_at = NULL, next_attempt_at = now(), error = $2,
                error_code = NULL, answer = NULL, updated_at = now()
            WHERE effect_key = $1 AND status IN ('done', 'dead', 'manual')
            RETURNING id
        ), notified AS (
            SELECT pg_notify('{EFFECTS_CHANNEL}', '') FROM due
        )
        SELECT (SELECT count(*) FROM notified)
             + (SELECT count(*) FROM lexoffice_effects
                WHERE effect_key = $1 AND status NOT IN ('done', 'dead', 'manual'))
        """,  # noqa: S608 - a fixed channel name, no input
        contact_key(customer_id),
        reason,
    )
    return pending > 0


_DOCUMENT_EFFECTS = """
    WITH own AS (
        SELECT * FROM lexoffice_effects
        WHERE COALESCE(payload->>'document_key', payload->>'invoice_id') = $1 AND kind <> 'contact'
    ), customers AS (
        SELECT payload->>'customer_id' AS customer_id FROM own
        UNION SELECT details->>'customer_id' FROM booking_ledger WHERE document_key = $1
    )
    SELECT * FROM own
    UNION ALL
    SELECT * FROM lexoffice_effects
    WHERE kind = 'contact' AND effect_key IN (SELECT 'contact:' || customer_id FROM customers)
    ORDER BY created_at, effect_key
"""


async def document_effects(conn: asyncpg.Pool | asyncpg.Connection, document_key: str) -> list[asyncpg.Record]:
    """The effect rows of one document (a Stripe invoice, checkout session, credit note or refund): its own, found
    by the document its payload names, and its customer's contact row (shared with the customer's other
    documents). Oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(_DOCUMENT_EFFECTS, document_key)
    return rows


async def vouchers_of_customer_due(pool: asyncpg.Pool, customer_id: str) -> None:
    """The customer's vouchers and invoices, which wait for its contact."""
    await make_due(pool, "kind IN ('voucher', 'invoice') AND payload->>'customer_id' = $1", customer_id)


async def file_due(pool: asyncpg.Pool, invoice_number: str) -> None:
    await make_due(pool, "effect_key = $1", file_key(invoice_number))


async def refunds_due(conn: asyncpg.Pool | asyncpg.Connection, original_key: str) -> None:
    """The refunds of an original that was just booked (or failed, or left to a human) look at it again: those
    naming it (credit notes) and those naming its payment (plain refunds). Path 2 calls this when it books a
    checkout's invoice."""
    await make_due(
        conn,
        """kind = 'credit' AND (payload->>'invoice_id' = $1 OR payload->>'payment_intent_id' IN (
            SELECT details->>'payment_intent_id' FROM booking_ledger WHERE document_key = $1))""",
        original_key,
    )


async def credit_file_due(pool: asyncpg.Pool, document_key: str) -> None:
    await make_due(pool, "effect_key = $1", credit_file_key(document_key))


async def end_waiting(pool: asyncpg.Pool, effect_key: str, status: str, reason: str) -> None:
    """A row not yet claimed ends in `status` (a dead status) without a call."""
    await pool.execute(
        "UPDATE lexoffice_effects SET status = $2, error = $3, updated_at = now()"
        " WHERE effect_key = $1 AND status IN ('queued', 'waiting')",
        effect_key,
        status,
        reason,
    )


async def booked_through_credit_note(conn: asyncpg.Connection, refund_id: str) -> bool:
    """A Stripe credit note recorded before names this refund: it is booked through that credit note."""
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM lexoffice_effects WHERE kind = 'credit' AND payload->'refund_ids' ? $1 LIMIT 1", refund_id
        )
    )


async def supersede_refunds(conn: asyncpg.Connection, credit_note_id: str, refund_ids: Sequence[str]) -> list[str]:
    """The refunds a Stripe credit note made, recorded before it and not done: done through the credit note (their
    credit document is never created). Returns their refund ids."""
    records = await conn.fetch(
        """
        UPDATE lexoffice_effects SET status = 'done', provider_ref = $2, done_at = now(), lease_until = NULL,
            error = NULL, updated_at = now()
        WHERE effect_key = ANY($1::text[]) AND status <> 'done'
        RETURNING payload->>'document_key' AS refund_id
        """,
        [credit_key(r) for r in refund_ids],
        f"credit_note:{credit_note_id}",
    )
    return [str(r["refund_id"]) for r in records]
