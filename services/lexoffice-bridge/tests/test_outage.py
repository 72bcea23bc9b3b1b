"""Lexoffice down while invoices arrive (real Kafka, PostgreSQL, the sandbox answering 503 to everything): the breaker
opens and calls stop, nothing fails for good; when Lexoffice is back the breaker closes and every invoice is booked,
each once, with its file."""

from __future__ import annotations

import asyncio

import pytest
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import StatusFault

from .conftest import Platform, paid_invoice

pytestmark = pytest.mark.integration

# One attempt per call and a breaker that opens after 3 failures and tries again after a second.
OUTAGE = {
    "LEXOFFICE_MAX_ATTEMPTS": 1,
    "LEXOFFICE_BREAKER_FAIL_MAX": 3,
    "LEXOFFICE_BREAKER_RESET_SECONDS": 1,
    "LEXOFFICE_BREAKER_FIRST_RESET_SECONDS": 1,
}


@pytest.mark.parametrize("settings_extra", [OUTAGE], indirect=True)
async def test_the_breaker_opens_while_lexoffice_is_down_then_everything_drains_once(platform: Platform) -> None:
    breaker = platform.app.state.lexoffice.http.breaker
    states: list[str] = []
    breaker.listeners.append(lambda _name, _old, new: states.append(new))
    platform.sandbox.app.faults.add(StatusFault(path_prefix="/v1/", status=503, body={"message": "down"}))
    events = [paid_invoice(customer_id=f"cus_{n % 2}", email=f"customer{n % 2}@example.com") for n in range(4)]
    await asyncio.gather(*(platform.publish(event) for event in events))

    async def opened() -> bool:
        return breaker.state == "open"

    await eventually(opened, timeout=60, what="the breaker open")
    assert platform.sandbox.documents_by_number() == {}
    assert platform.sandbox.store.of_kind("contact") == []
    for event in events:
        assert set(await platform.ledger_kinds(event.invoice_id)) <= {"queued"}, "an outage is no failure"
    assert not set((await platform.effects()).values()) & {"dead", "manual"}

    platform.sandbox.app.faults.clear()  # Lexoffice is back
    for event in events:
        assert [r["kind"] for r in await platform.attached(event.invoice_id, timeout=120)] == [
            "queued",
            "booked",
            "file_attached",
        ]

    platform.sandbox.assert_one_document_per_number()
    assert sorted(platform.sandbox.documents_by_number()) == sorted(e.invoice_number or "" for e in events)
    assert len(platform.sandbox.store.of_kind("contact")) == 2, "one contact per customer"
    assert "open" in states and states[-1] == "closed", states

    async def all_done() -> bool:
        # Steps that an earlier one already satisfied (e.g. the second contact row of a customer) settle by their
        # look-up a moment after the documents are complete.
        return set((await platform.effects()).values()) == {"done"}

    await eventually(all_done, timeout=60, what="every effect done")
