"""A mail whose recipient is not known yet waits for an event that brings the address, and alerts when it expires."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from intplat_devstack.testing import eventually

from notifier import customers, ledger

from .conftest import Platform, Recorder, Topics, publish
from .samples import invoice, payment_failed

pytestmark = pytest.mark.integration


async def _row(platform: Platform, event_id: str) -> Any:
    return await eventually(
        lambda: platform.pool.fetchrow("SELECT * FROM messages WHERE source_ref = $1", event_id), what="row"
    )


async def test_a_later_event_with_the_address_completes_the_waiting_mail(
    platform: Platform, topics: Topics, kafka: Any, gateway: Recorder
) -> None:
    bootstrap = kafka.bootstrap_servers
    # Stripe delivers the payment failure first; stripe-mock's customer has no e-mail.
    await publish(bootstrap, topics.names["payment"], payment_failed("cus_late"), event_id="evt_pf_late")
    waiting = await _row(platform, "evt_pf_late")
    assert (waiting["status"], waiting["recipient"]) == ("waiting", None)
    await publish(bootstrap, topics.names["invoice"], invoice("cus_late", "late@example.com", "de"), event_id="evt_i")
    settled = await eventually(lambda: _in(platform, waiting["id"], "sent"), what="the waiting mail sent")
    assert (settled["status"], settled["recipient"], settled["locale"]) == ("sent", "late@example.com", "de")
    (mail,) = [m for m in platform.sandbox.messages if m.tag == "payment_failed"]
    assert mail.to == "late@example.com"
    assert "Hallo Ada Lovelace," in mail.text_body
    assert "https://billing.stripe.com/p/session/" in mail.html_body


async def test_a_suppressed_address_arriving_later_suppresses_the_waiting_mail(
    platform: Platform, topics: Topics, kafka: Any
) -> None:
    await platform.pool.execute(
        "INSERT INTO suppressions (email, reason, source) VALUES ('gone@example.com', 'hard bounce', 'test')"
    )
    await publish(kafka.bootstrap_servers, topics.names["payment"], payment_failed("cus_gone"), event_id="evt_pf_g")
    waiting = await _row(platform, "evt_pf_g")
    await publish(
        kafka.bootstrap_servers, topics.names["invoice"], invoice("cus_gone", "gone@example.com"), event_id="evt_i_g"
    )

    async def suppressed() -> bool:
        return bool((await platform.row(waiting["id"]))["status"] == "suppressed")

    await eventually(suppressed, what="the waiting mail suppressed")
    assert [m for m in platform.sandbox.messages if m.tag == "payment_failed"] == []


@pytest.mark.parametrize("settings_extra", [{"NOTIFIER_RECIPIENT_WAIT_SECONDS": 0.5}], indirect=True)
async def test_a_wait_that_expires_fails_the_mail_and_alerts(
    platform: Platform, topics: Topics, kafka: Any, chat: Recorder
) -> None:
    await publish(kafka.bootstrap_servers, topics.names["payment"], payment_failed("cus_never"), event_id="evt_pf_n")
    row = await _row(platform, "evt_pf_n")
    settled = await eventually(lambda: _in(platform, row["id"], "failed"), what="the wait expired")
    assert "no e-mail address known for customer cus_never (waited in vain)" in settled["error"]
    await eventually(lambda: _alerted(chat), what="alert posted")
    (alert,) = [c["text"] for c in chat.calls if "no e-mail address arrived" in c["text"]]
    assert "payment_failed mail" in alert and "cus_never" in alert
    assert platform.sandbox.messages == []


@pytest.mark.parametrize("settings_extra", [{"NOTIFIER_RECIPIENT_WAIT_SECONDS": 0}], indirect=True)
async def test_without_a_wait_an_unknown_recipient_fails_at_once(
    platform: Platform, topics: Topics, kafka: Any
) -> None:
    await publish(kafka.bootstrap_servers, topics.names["payment"], payment_failed("cus_nobody"), event_id="evt_pf_0")
    row = await _row(platform, "evt_pf_0")
    assert row["status"] == "failed"
    assert "no e-mail address known for customer cus_nobody" in row["error"]


async def _in(platform: Platform, message_id: Any, status: str) -> Any:
    row = await platform.row(message_id)
    return row if row["status"] == status else None


async def _alerted(chat: Recorder) -> bool:
    return any("no e-mail address arrived" in c["text"] for c in chat.calls)


async def test_an_address_arriving_while_a_mail_starts_waiting_is_never_missed(platform: Platform) -> None:
    """Two replicas: one records a waiting mail for a customer while the other learns that customer's address."""
    pool = platform.pool
    now = datetime.now(UTC)
    async with pool.acquire() as waiting_side, pool.acquire() as address_side:
        # The address comes while the mail is being recorded: it waits for the customer's row, then completes the mail.
        async with waiting_side.transaction():
            assert await customers.expect_address(waiting_side, "cus_race") is None
            learning = asyncio.create_task(_learn(address_side, "cus_race", "race@example.com", now))
            await asyncio.sleep(0.3)
            assert not learning.done(), "the address waits for the transaction recording the mail"
            first = await ledger.insert(waiting_side, _waiting_mail("cus_race", "race-1"))
        await learning
        # The address was committed first: the mail does not wait at all.
        async with waiting_side.transaction():
            assert await customers.expect_address(waiting_side, "cus_race") == "race@example.com"
    completed = await platform.row(first.message.id)
    assert completed["recipient"] == "race@example.com"
    assert completed["status"] in ("queued", "sending", "sent")
    assert await pool.fetchval("SELECT mails_waiting FROM customers WHERE customer_id = 'cus_race'") is False


async def _learn(conn: asyncpg.Connection, customer_id: str, email: str, at: datetime) -> None:
    async with conn.transaction():
        await customers.remember(
            conn, customer_id, customers.Contact(email, None, None), source="invoice", observed_at=at
        )


def _waiting_mail(customer_id: str, key: str) -> ledger.NewMessage:
    return ledger.NewMessage(
        dedupe_key=key,
        origin="event",
        template="payment_failed",
        locale="en",
        recipient=None,
        model={},
        customer_id=customer_id,
        recipient_wait_seconds=3600,
    )
