"""Documents in the states the admin page shows, written as the consumer and the booker would leave them: ledger rows
and effect rows (a failed voucher: its contact done, its voucher dead with Lexoffice's answer, its file waiting)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from lexoffice_bridge import effects, ledger
from lexoffice_bridge.ledger import EntryKind, LedgerEntry, Source

ANSWER = {"IssueList": [{"i18nKey": "invalid_value", "source": "voucherItems[0].taxRatePercent"}]}


def entry(invoice_id: str, number: str, kind: EntryKind, **values: Any) -> LedgerEntry:
    return LedgerEntry(
        document_key=invoice_id,
        source="stripe_invoice",
        kind=kind,
        document_type="voucher",
        voucher_number=number,
        amount=Decimal("129.70"),
        currency="EUR",
        **values,
    )


async def effect(pool: asyncpg.Pool, key: str, kind: str, status: str, payload: dict[str, Any], **values: Any) -> None:
    """One effect row with the payload fields that name its document and customer (a customer's contact row is
    written once, like the consumer does)."""
    columns = {"attempts": 1, "error_code": None, "error": None, "answer": None, **values}
    await pool.execute(
        """
        INSERT INTO lexoffice_effects (id, effect_key, kind, payload, status, attempts, error_code, error, answer,
                                       next_attempt_at)
        VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7, $8, now() + interval '1 hour')
        ON CONFLICT (effect_key) DO NOTHING
        """,
        key,
        kind,
        payload,
        status,
        columns["attempts"],
        columns["error_code"],
        columns["error"],
        columns["answer"],
    )


async def failed_document(pool: asyncpg.Pool, invoice_id: str, number: str, customer_id: str = "cus_ada") -> None:
    await ledger.record(pool, entry(invoice_id, number, "queued", details={"customer_id": customer_id}))
    sale = {"invoice_id": invoice_id, "invoice_number": number, "customer_id": customer_id}
    await effect(pool, effects.contact_key(customer_id), "contact", "done", {"customer_id": customer_id})
    await effect(
        pool,
        effects.voucher_key(number),
        "voucher",
        "dead",
        sale,
        attempts=1,
        error_code=406,
        error="Lexoffice refused the voucher: 406",
        answer=ANSWER,
    )
    await effect(
        pool, effects.file_key(number), "voucher_file", "queued", sale, attempts=3, error="waiting for the voucher"
    )
    await ledger.record(
        pool,
        entry(
            invoice_id,
            number,
            "failed",
            reason="Lexoffice refused the voucher: 406",
            details={"step": "voucher", "status": 406, "answer": ANSWER},
        ),
    )


async def failed_chain(pool: asyncpg.Pool, document_key: str, source: Source, kinds: tuple[str, str]) -> None:
    """A path 2 checkout or a refund whose first step died and took its second with it (chain.py); its rows name
    their document by `document_key` in the payload."""
    payload = {"document_key": document_key, "customer_id": "cus_ada"}
    await ledger.record(pool, LedgerEntry(document_key, source, "queued", details={"customer_id": "cus_ada"}))
    await effect(pool, effects.contact_key("cus_ada"), "contact", "done", {"customer_id": "cus_ada"})
    for kind in kinds:
        await effect(pool, f"{kind}:{document_key}", kind, "dead", payload, error=f"{kind} refused")
    await ledger.record(pool, LedgerEntry(document_key, source, "failed", reason=f"{kinds[0]} refused"))


async def manual_document(pool: asyncpg.Pool, invoice_id: str, number: str) -> None:
    await ledger.record(
        pool,
        LedgerEntry(
            document_key=invoice_id,
            source="stripe_invoice",
            kind="needs_manual_booking",
            document_type="voucher",
            voucher_number=number,
            amount=Decimal("99.00"),
            currency="USD",
            reason="Lexoffice books EUR only; this invoice is USD",
            details={"customer_id": "cus_bob"},
        ),
    )


async def booked_document(pool: asyncpg.Pool, invoice_id: str, number: str) -> None:
    await ledger.record(pool, entry(invoice_id, number, "queued", details={"customer_id": "cus_ada"}))
    await ledger.record(pool, entry(invoice_id, number, "booked", lexoffice_id="e9066f04-8cc7-4616-93f8-ac9ecc8479c8"))
    await ledger.record(pool, entry(invoice_id, number, "file_attached", details={"file_id": "f-1"}))


async def kinds(pool: asyncpg.Pool, invoice_id: str) -> list[tuple[str, str]]:
    return [(row["kind"], row["actor"]) for row in await ledger.history(pool, invoice_id)]


async def statuses(pool: asyncpg.Pool) -> dict[str, str]:
    rows = await pool.fetch("SELECT effect_key, status FROM lexoffice_effects")
    return {row["effect_key"]: row["status"] for row in rows}


async def latest(pool: asyncpg.Pool, invoice_id: str) -> asyncpg.Record:
    row = await ledger.current(pool, invoice_id)
    assert row is not None, f"{invoice_id} has ledger rows"
    return row
