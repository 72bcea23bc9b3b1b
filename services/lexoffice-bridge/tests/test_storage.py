"""The bridge's tables on a real PostgreSQL: the GoBD ledger refuses every change, the contact mapping keeps the
first contact, the effect table works with the effect ledger."""

from __future__ import annotations

import uuid
from decimal import Decimal

import asyncpg
import pytest

from lexoffice_bridge import contacts, ledger
from lexoffice_bridge.contacts import ContactLink
from lexoffice_bridge.effects import EFFECTS
from lexoffice_bridge.ledger import LedgerEntry

BOOKED = LedgerEntry(
    document_key="in_1",
    source="stripe_invoice",
    kind="booked",
    document_type="voucher",
    lexoffice_id="66196c43-baf3-4335-bfee-d610367059db",
    voucher_number="INV-0001",
    amount=Decimal("130.70"),
    currency="EUR",
    details={"voucher": {"version": 1}},
)


async def test_the_migration_creates_the_tables(pool: asyncpg.Pool) -> None:
    tables = {r["tablename"] for r in await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {
        "outbox",
        "inbox",
        "booking_ledger",
        "customer_contacts",
        "lexoffice_effects",
        "lexoffice_events",
        "rate_limit_buckets",
    } <= tables


async def test_a_status_change_is_a_new_row(pool: asyncpg.Pool) -> None:
    first = await ledger.record(pool, LedgerEntry("in_1", "stripe_invoice", "queued", amount=Decimal("130.70")))
    second = await ledger.record(pool, BOOKED)
    await ledger.record(pool, LedgerEntry("in_2", "stripe_invoice", "needs_manual_booking", currency="USD"))

    rows = await ledger.history(pool, "in_1")
    assert [(r["id"], r["kind"]) for r in rows] == [(first, "queued"), (second, "booked")]
    now = await ledger.current(pool, "in_1")
    assert now is not None
    assert (now["kind"], now["amount"], now["lexoffice_id"]) == ("booked", Decimal("130.70"), BOOKED.lexoffice_id)
    assert now["details"] == {"voucher": {"version": 1}}
    assert now["actor"] == "lexoffice-bridge"
    assert await ledger.current(pool, "in_unknown") is None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE booking_ledger SET kind = 'failed'",
        "UPDATE booking_ledger SET amount = 1 WHERE document_key = 'in_1'",
        "DELETE FROM booking_ledger",
        "DELETE FROM booking_ledger WHERE document_key = 'in_1'",
        "TRUNCATE booking_ledger",
    ],
)
async def test_the_ledger_refuses_every_change_in_the_database(pool: asyncpg.Pool, statement: str) -> None:
    await ledger.record(pool, BOOKED)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await pool.execute(statement)
    rows = await ledger.history(pool, "in_1")
    assert [(r["kind"], r["amount"]) for r in rows] == [("booked", Decimal("130.70"))], "nothing changed"


async def test_the_ledger_checks_its_vocabulary(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "INSERT INTO booking_ledger (document_key, source, kind) VALUES ('in_1', 'stripe_invoice', 'deleted')"
        )


async def test_a_customer_keeps_its_first_contact(pool: asyncpg.Pool) -> None:
    assert await contacts.find(pool, "cus_1") is None
    first = await contacts.link(pool, ContactLink("cus_1", "c-1", "ada@example.com", 0))
    assert first == ContactLink("cus_1", "c-1", "ada@example.com", 0)

    assert await contacts.link(pool, ContactLink("cus_1", "c-1", None, 2)) == ContactLink(
        "cus_1", "c-1", "ada@example.com", 2
    ), "a newer version of the same contact is kept"
    assert await contacts.link(pool, ContactLink("cus_1", "c-1", None, 1)) == ContactLink(
        "cus_1", "c-1", "ada@example.com", 2
    ), "an older one is not"
    assert await contacts.link(pool, ContactLink("cus_1", "c-other", "x@example.com", 0)) == ContactLink(
        "cus_1", "c-1", "ada@example.com", 2
    ), "a second contact for the customer is refused: the first link stands"
    assert await contacts.link(pool, ContactLink("cus_2", "c-1", "ada@example.com", 2)) == ContactLink(
        "cus_2", "c-1", "ada@example.com", 2
    ), "another Stripe customer with the same e-mail shares the contact found by it"


async def test_the_effect_table_works_with_the_effect_ledger(pool: asyncpg.Pool) -> None:
    effect_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO lexoffice_effects (id, effect_key, kind, payload) VALUES ($1, 'voucher:in_1', 'create_voucher',"
        " '{}'::jsonb)",
        effect_id,
    )
    claimed = await EFFECTS.claim(pool, limit=10, lease_seconds=30)
    assert [(r["id"], r["status"], r["effect_key"]) for r in claimed] == [(effect_id, "sending", "voucher:in_1")]
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO lexoffice_effects (id, effect_key, kind) VALUES ($1, 'voucher:in_1', 'create_voucher')",
            uuid.uuid4(),
        )
