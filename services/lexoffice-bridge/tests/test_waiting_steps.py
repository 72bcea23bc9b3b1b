"""A step whose earlier step is not done waits (no calls, no retries) until that step wakes it; when the earlier step
is dead, the dependants end dead naming it, and `retry_document` revives the chain in order."""

from __future__ import annotations

from typing import Any

import pytest
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import DelayFault, StatusFault

from lexoffice_bridge.chain import ActionRefused, UnknownDocument, retry_document

from .conftest import OpsChat, Platform, paid_invoice

pytestmark = pytest.mark.integration

REFUSED_CONTACT = {
    "IssueList": [{"i18nKey": "missing_entity", "source": "person.lastName", "type": "validation_failure"}]
}


async def effect(platform: Platform, key: str) -> dict[str, Any] | None:
    row = await platform.pool.fetchrow(
        "SELECT status, attempts, error, next_attempt_at - now() AS due_in FROM lexoffice_effects"
        " WHERE effect_key = $1",
        key,
    )
    return dict(row) if row is not None else None


async def test_a_voucher_waits_for_its_contact_without_calls_and_is_woken(platform: Platform) -> None:
    platform.sandbox.app.faults.add(DelayFault(method="POST", path_prefix="/v1/contacts", times=1, seconds=3))
    event = paid_invoice()
    await platform.publish(event)

    async def parked() -> dict[str, Any] | None:
        row = await effect(platform, f"voucher:{event.invoice_number}")
        return row if row is not None and row["status"] == "waiting" else None

    voucher = await eventually(parked, timeout=30, what="voucher waiting")
    assert voucher["attempts"] == 0, "a wait is not an attempt"
    assert voucher["error"] == f"waiting for contact:{event.customer_id}"
    assert voucher["due_in"].total_seconds() > 600, "parked until its deadline, not polled"

    rows = await platform.attached(event.invoice_id)
    assert [r["kind"] for r in rows] == ["queued", "booked", "file_attached"]
    assert (await effect(platform, f"voucher:{event.invoice_number}") or {})["attempts"] == 1


async def test_a_dead_contact_ends_its_dependants_and_a_retry_books_the_document_once(
    platform: Platform, ops_chat: OpsChat
) -> None:
    platform.sandbox.app.faults.add(
        StatusFault(method="POST", path_prefix="/v1/contacts", times=1, status=406, body=REFUSED_CONTACT)
    )
    event = paid_invoice()
    await platform.publish(event)

    async def all_dead() -> dict[str, str] | None:
        found = await platform.effects()
        return found if found and set(found.values()) == {"dead"} else None

    assert await eventually(all_dead, timeout=60, what="the chain dead") == {
        f"contact:{event.customer_id}": "dead",
        f"voucher:{event.invoice_number}": "dead",
        f"file:{event.invoice_number}": "dead",
    }
    rows = await platform.ledger(event.invoice_id)
    assert [(r["kind"], r["details"]["step"]) for r in rows[1:]] == [("failed", "voucher"), ("failed", "voucher_file")]
    assert rows[1]["reason"].startswith(f"the earlier step contact:{event.customer_id} is dead: Lexoffice HTTP 406")
    assert rows[2]["reason"].startswith(f"the earlier step voucher:{event.invoice_number} is dead")

    async def alerted() -> list[str] | None:
        return [text for text in ops_chat.texts if "is dead: Lexoffice HTTP 406" in text] or None

    assert (await eventually(alerted, timeout=20, what="the dead contact on the ops channel"))[0].startswith(
        "[lexoffice-bridge] lexoffice-bridge effect"
    )
    assert not [p for m, p, _ in platform.requests() if m == "POST" and p.startswith("/v1/vouchers")]

    revived = await retry_document(platform.pool, event.invoice_id, actor="admin:test")
    number = event.invoice_number
    assert revived == [f"contact:{event.customer_id}", f"voucher:{number}", f"file:{number}"], "in step order"
    rows = await platform.attached(event.invoice_id)
    assert [r["kind"] for r in rows] == ["queued", "failed", "failed", "retry_requested", "booked", "file_attached"]
    assert (rows[3]["actor"], rows[3]["details"]["effects"]) == ("admin:test", revived)
    platform.sandbox.assert_one_document_per_number()
    assert [p for m, p, _ in platform.requests() if (m, p) == ("POST", "/v1/vouchers")] == ["/v1/vouchers"]
    with pytest.raises(ActionRefused, match="nothing_to_retry"):  # nothing dead any more
        await retry_document(platform.pool, event.invoice_id)
    with pytest.raises(UnknownDocument):
        await retry_document(platform.pool, "in_unknown")
