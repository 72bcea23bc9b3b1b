"""The admin page's queries and actions on a real PostgreSQL: documents by current state with filters and pages, a
document's history, Retry (dead steps queued again, `retry_requested` by the operator) and Mark as booked manually
(its steps ended `manual`, never claimed again, `booked_manually` by the operator); the ledger only grows."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from lexoffice_bridge import ledger
from lexoffice_bridge.admin.actions import ActionRefused, ManualBooking, mark_booked_manually, retry_document
from lexoffice_bridge.admin.queries import BERLIN, DocumentFilter, document_history, documents
from lexoffice_bridge.effects import EFFECTS, EFFECTS_CHANNEL
from lexoffice_bridge.ledger import Source

from .admin_seed import (
    ANSWER,
    booked_document,
    effect,
    failed_chain,
    failed_document,
    kinds,
    latest,
    manual_document,
    statuses,
)


async def keys(pool: asyncpg.Pool, where: DocumentFilter, page: int = 1, size: int = 50) -> list[str]:
    return [row["document_key"] for row in (await documents(pool, where, page=page, size=size)).rows]


async def test_documents_are_listed_by_their_current_state(pool: asyncpg.Pool) -> None:
    await failed_document(pool, "in_failed", "INV-100")
    await manual_document(pool, "in_usd", "INV-101")
    await booked_document(pool, "in_done", "INV-102")
    await ledger.record(pool, ledger.LedgerEntry("in_queued", "stripe_invoice", "queued", voucher_number="INV-103"))

    assert set(await keys(pool, DocumentFilter())) == {"in_failed", "in_usd", "in_queued"}
    assert await keys(pool, DocumentFilter(state="failed")) == ["in_failed"]
    assert await keys(pool, DocumentFilter(state="manual")) == ["in_usd"]
    assert await keys(pool, DocumentFilter(state="pending")) == ["in_queued"]
    assert await keys(pool, DocumentFilter(state="done")) == ["in_done"]
    assert len(await keys(pool, DocumentFilter(state="all"))) == 4
    assert await keys(pool, DocumentFilter(source="stripe_checkout")) == []


async def test_free_text_finds_a_stripe_id_or_a_voucher_number_literally(pool: asyncpg.Pool) -> None:
    await failed_document(pool, "in_1AbC", "INV-2026-0001")
    await manual_document(pool, "in_2xyz", "INV_100%")

    assert await keys(pool, DocumentFilter(text="1abc")) == ["in_1AbC"]
    assert await keys(pool, DocumentFilter(text="2026-0001")) == ["in_1AbC"]
    assert await keys(pool, DocumentFilter(text="_100%")) == ["in_2xyz"]
    assert await keys(pool, DocumentFilter(text="%")) == ["in_2xyz"], "% is a character, not a wildcard"
    assert await keys(pool, DocumentFilter(text="in_9")) == []


async def test_the_date_range_is_of_the_latest_change_in_german_days(pool: asyncpg.Pool) -> None:
    await failed_document(pool, "in_today", "INV-1")
    changed = (await latest(pool, "in_today"))["recorded_at"].astimezone(BERLIN).date()

    assert await keys(pool, DocumentFilter(since=changed, until=changed)) == ["in_today"]
    assert await keys(pool, DocumentFilter(since=changed + timedelta(days=1))) == []
    assert await keys(pool, DocumentFilter(until=changed - timedelta(days=1))) == []


async def test_documents_come_in_pages_most_recent_first(pool: asyncpg.Pool) -> None:
    for n in range(5):
        await manual_document(pool, f"in_{n}", f"INV-{n}")

    first = await documents(pool, DocumentFilter(), page=1, size=2)
    last = await documents(pool, DocumentFilter(), page=3, size=2)

    assert [r["document_key"] for r in first.rows] == ["in_4", "in_3"]
    assert [r["document_key"] for r in last.rows] == ["in_0"]
    assert (first.total, first.last, last.total) == (5, 3, 5)


async def test_a_documents_history_holds_its_ledger_rows_and_its_calls(pool: asyncpg.Pool) -> None:
    await failed_document(pool, "in_1", "INV-1")
    await failed_document(pool, "in_2", "INV-2", customer_id="cus_other")

    history = await document_history(pool, "in_1")

    assert history is not None
    assert [row["kind"] for row in history.ledger] == ["queued", "failed"]
    assert history.current["kind"] == "failed"
    effects = {row["effect_key"]: row for row in history.effects}
    assert set(effects) == {"contact:cus_ada", "voucher:INV-1", "file:INV-1"}
    assert (effects["voucher:INV-1"]["status"], effects["voucher:INV-1"]["error_code"]) == ("dead", 406)
    assert effects["voucher:INV-1"]["answer"] == ANSWER
    assert await document_history(pool, "in_unknown") is None


async def test_retry_queues_the_dead_steps_again_and_records_who_asked(pool: asyncpg.Pool) -> None:
    await failed_document(pool, "in_1", "INV-1")
    await failed_document(pool, "in_2", "INV-2")
    wakes: asyncio.Queue[str] = asyncio.Queue()

    def woken(*args: object) -> None:
        wakes.put_nowait(str(args[2]))

    listener = await pool.acquire()
    await listener.add_listener(EFFECTS_CHANNEL, woken)
    try:
        requeued = await retry_document(pool, "in_1", actor="erika")
        assert await asyncio.wait_for(wakes.get(), timeout=10) == EFFECTS_CHANNEL, "the booker is woken"
    finally:
        await listener.remove_listener(EFFECTS_CHANNEL, woken)
        await pool.release(listener)

    assert requeued == ["voucher:INV-1"]
    now = await statuses(pool)
    assert (now["voucher:INV-1"], now["file:INV-1"], now["contact:cus_ada"]) == ("queued", "queued", "done")
    assert now["voucher:INV-2"] == "dead", "another document's step is left alone"
    assert await kinds(pool, "in_1") == [
        ("queued", "lexoffice-bridge"),
        ("failed", "lexoffice-bridge"),
        ("retry_requested", "erika"),
    ]
    retried = await latest(pool, "in_1")
    assert (retried["voucher_number"], retried["details"]) == ("INV-1", {"effects": ["voucher:INV-1"]})
    claimed = {row["effect_key"] for row in await EFFECTS.claim(pool, limit=10, lease_seconds=30)}
    assert "voucher:INV-1" in claimed, "due at once"


async def test_retry_also_revives_the_customers_dead_contact(pool: asyncpg.Pool) -> None:
    await failed_document(pool, "in_1", "INV-1")
    await pool.execute("UPDATE lexoffice_effects SET status = 'dead' WHERE effect_key = 'contact:cus_ada'")

    assert await retry_document(pool, "in_1", actor="erika") == ["contact:cus_ada", "voucher:INV-1"]


@pytest.mark.parametrize(
    ("document_key", "source", "steps"),
    [
        ("cs_test_1", "stripe_checkout", ("invoice", "invoice_file")),
        ("re_1", "stripe_refund", ("credit", "credit_file")),
    ],
)
async def test_checkout_and_refund_steps_are_in_the_history_and_retried_in_order(
    pool: asyncpg.Pool, document_key: str, source: Source, steps: tuple[str, str]
) -> None:
    await failed_chain(pool, document_key, source, steps)

    history = await document_history(pool, document_key)
    assert history is not None
    own = [f"{step}:{document_key}" for step in steps]
    assert sorted(row["effect_key"] for row in history.effects) == sorted(["contact:cus_ada", *own])

    assert await retry_document(pool, document_key, actor="erika") == own, "the document before its file"
    assert [(await statuses(pool))[key] for key in own] == ["queued", "queued"]
    assert (await latest(pool, document_key))["details"] == {"effects": own}


async def test_nothing_to_retry_records_nothing(pool: asyncpg.Pool) -> None:
    await failed_document(pool, "in_1", "INV-1")
    await retry_document(pool, "in_1", actor="erika")
    await manual_document(pool, "in_usd", "INV-2")

    for document in ("in_1", "in_usd"):
        before = await kinds(pool, document)
        with pytest.raises(ActionRefused, match="nothing_to_retry"):
            await retry_document(pool, document, actor="erika")
        assert await kinds(pool, document) == before
    with pytest.raises(ActionRefused, match="unknown_document"):
        await retry_document(pool, "in_unknown", actor="erika")


async def test_booked_manually_ends_every_open_step_so_lexoffice_is_never_called_for_it(pool: asyncpg.Pool) -> None:
    await failed_document(pool, "in_1", "INV-1")

    ended = await mark_booked_manually(
        pool, "in_1", ManualBooking("RE-0042", "booked in Lexware by hand"), actor="erika"
    )

    assert ended == ["file:INV-1", "voucher:INV-1"]
    now = await statuses(pool)
    assert (now["voucher:INV-1"], now["file:INV-1"]) == ("manual", "manual")
    assert now["contact:cus_ada"] == "done", "the customer's contact is shared with other documents"
    await pool.execute("UPDATE lexoffice_effects SET next_attempt_at = now() - interval '1 minute'")
    assert await EFFECTS.claim(pool, limit=10, lease_seconds=30) == [], "the worker never takes a manual step"
    row = await latest(pool, "in_1")
    assert (row["kind"], row["actor"], row["reason"]) == ("booked_manually", "erika", "booked in Lexware by hand")
    assert row["details"] == {"lexoffice_document_number": "RE-0042", "effects_ended": ended}
    assert [kind for kind, _ in await kinds(pool, "in_1")] == ["queued", "failed", "booked_manually"]


async def test_booked_manually_wakes_the_refunds_waiting_for_it(pool: asyncpg.Pool) -> None:
    await failed_document(pool, "in_1", "INV-1")
    refund = {"document_key": "cn_1", "invoice_id": "in_1", "customer_id": "cus_ada"}
    await effect(pool, "credit:cn_1", "credit", "waiting", refund, error="waiting for the original in_1 to be booked")

    await mark_booked_manually(pool, "in_1", ManualBooking("RE-0042", "booked by hand"), actor="erika")

    due = await pool.fetchrow(
        "SELECT status, next_attempt_at <= now() AS due FROM lexoffice_effects WHERE kind = 'credit'"
    )
    assert due is not None and (due["status"], due["due"]) == ("queued", True), "it looks again at once"


async def test_a_manual_booking_item_is_marked_booked(pool: asyncpg.Pool) -> None:
    await manual_document(pool, "in_usd", "INV-9")

    assert await mark_booked_manually(pool, "in_usd", ManualBooking("RE-7", "USD invoice booked"), actor="erika") == []
    row = await latest(pool, "in_usd")
    assert (row["kind"], row["currency"], row["amount"]) == ("booked_manually", "USD", 99)


async def test_booked_manually_is_refused_for_a_booked_document_or_a_call_in_flight(pool: asyncpg.Pool) -> None:
    await booked_document(pool, "in_done", "INV-1")
    await failed_document(pool, "in_2", "INV-2")
    await pool.execute("UPDATE lexoffice_effects SET status = 'sending' WHERE effect_key = 'file:INV-2'")
    booking = ManualBooking("RE-1", "note")

    with pytest.raises(ActionRefused, match="already_booked"):
        await mark_booked_manually(pool, "in_done", booking, actor="erika")
    with pytest.raises(ActionRefused, match="call_in_flight"):
        await mark_booked_manually(pool, "in_2", booking, actor="erika")

    assert [kind for kind, _ in await kinds(pool, "in_2")] == ["queued", "failed"]
    assert (await statuses(pool))["voucher:INV-2"] == "dead", "nothing changed"
