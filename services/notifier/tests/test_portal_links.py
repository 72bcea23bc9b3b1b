"""A payment-failed mail during a short gateway restart: it waits for its Billing Portal link (bounded), goes out as
soon as the gateway's breaker closes, or carries the configured static fallback link."""

from __future__ import annotations

from typing import Any

import pytest
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import StatusFault

from notifier import ledger
from notifier.consumers.billing import plan_payment_failed

from .conftest import Platform, Recorder
from .samples import payment_failed

pytestmark = pytest.mark.integration


async def record_payment_failed(platform: Platform) -> Any:
    plan = plan_payment_failed(payment_failed("cus_ada"))
    assert not isinstance(plan, str), plan
    async with platform.pool.acquire() as conn, conn.transaction():
        result = await ledger.insert(
            conn,
            ledger.NewMessage(
                dedupe_key="test#pf:payment_failed:ada@example.com",
                origin="event",
                template="payment_failed",
                locale="en",
                recipient="ada@example.com",
                model={**plan.model, "name": "Ada"},
                customer_id="cus_ada",
            ),
        )
    return result.message.id


@pytest.mark.parametrize("settings_extra", [{"NOTIFIER_PORTAL_LINK_WAIT_SECONDS": 120}], indirect=True)
async def test_the_mail_waits_while_the_gateway_breaker_is_open_and_goes_when_it_closes(
    platform: Platform, gateway: Recorder
) -> None:
    gateway.app.faults.add(StatusFault(status=503, path_prefix="/v1/billing-portal", times=15))
    breaker = platform.app.state.portal.http.breaker
    message_id = await record_payment_failed(platform)

    async def waited_past_the_attempts() -> bool:
        row = await platform.row(message_id)
        return breaker.state == "open" and row["attempts"] >= 6 and row["status"] == "queued"

    await eventually(waited_past_the_attempts, what="the mail waiting on the open breaker")
    assert platform.sandbox.messages == [], "no mail without the link while the wait lasts"
    row = await platform.row(message_id)
    assert "no payment-method link yet" in row["error"]

    breaker._breaker.close()  # the gateway is back (a half-open trial would do the same)
    settled = await platform.settled(message_id, timeout=10)
    assert settled["status"] == "sent"
    (mail,) = platform.sandbox.messages
    assert "https://billing.stripe.com/p/session/" in mail.html_body


@pytest.mark.parametrize(
    "settings_extra", [{"BILLING_PORTAL_FALLBACK_URL": "https://app.example.com/account/billing"}], indirect=True
)
async def test_with_a_fallback_link_the_mail_goes_at_once_with_it(platform: Platform) -> None:
    # STRIPE_GATEWAY_URL points at a closed port in the tests: the gateway is down.
    message_id = await record_payment_failed(platform)
    settled = await platform.settled(message_id)
    assert (settled["status"], settled["attempts"]) == ("sent", 1)
    (mail,) = platform.sandbox.messages
    assert "https://app.example.com/account/billing" in mail.html_body
