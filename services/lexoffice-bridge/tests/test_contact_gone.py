"""A customer's Lexoffice contact deleted behind the bridge's back (in the Lexware web app; or, under `make run`, a
sandbox that started empty while the bridge kept its links): the next document for that customer is refused for its
contact. The bridge confirms the contact is gone, finds or creates it again, and books the document with the new one,
once. A contact that still exists but is refused stays a failure for a human."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from intplat_devstack.testing import eventually

from intplat_common.events import BillingEvent
from lexoffice_bridge import contacts

from .conftest import Platform, paid_invoice
from .test_booking import resource
from .test_checkout_booking import invoices_of, paid_checkout

pytestmark = pytest.mark.integration


async def delete_in_lexware(platform: Platform, contact_id: str) -> None:
    async with httpx.AsyncClient(base_url=platform.sandbox_url) as http:
        answer = await http.delete(f"/_sandbox/lexoffice/contacts/{contact_id}")
    assert answer.status_code == 204, answer.text


def contact_refusals(platform: Platform, path: str) -> list[tuple[str, str, int | None]]:
    return [r for r in platform.requests() if r[0] == "POST" and r[1] == path and r[2] == 406]


E = TypeVar("E", bound=BillingEvent)


async def book_after_the_contact_was_deleted(
    platform: Platform, first: E, second: E, key: Callable[[E], str]
) -> tuple[str, str, list[asyncpg.Record]]:
    """`first` booked, its contact deleted in Lexware, then `second` for the same customer booked: (the old contact
    id, the one Lexoffice has now, `second`'s ledger rows)."""
    await platform.publish(first)
    await platform.attached(key(first))
    (old,) = platform.sandbox.store.of_kind("contact")
    await delete_in_lexware(platform, old.id)
    await platform.publish(second)
    rows = await platform.attached(key(second))
    assert [r["kind"] for r in rows] == ["queued", "booked", "file_attached"], "no failure recorded"
    (new,) = platform.sandbox.store.of_kind("contact")
    assert new.id != old.id
    return old.id, new.id, rows


async def test_a_voucher_for_a_customer_whose_contact_is_gone_is_booked_with_a_new_contact(platform: Platform) -> None:
    old, new, rows = await book_after_the_contact_was_deleted(
        platform,
        paid_invoice(customer_id="cus_gone"),
        paid_invoice(customer_id="cus_gone"),
        lambda event: event.invoice_id,
    )
    voucher = await resource(platform, rows[1]["lexoffice_id"])
    assert voucher["contactId"] == new
    link = await contacts.find(platform.pool, "cus_gone")
    assert link is not None and link.lexoffice_contact_id == new
    assert len(contact_refusals(platform, "/v1/vouchers")) == 1, "refused once, then sent with the new contact"
    assert ("GET", f"/v1/contacts/{old}", 404) in platform.requests(), "the contact was confirmed gone first"
    assert (await platform.effects())["contact:cus_gone"] == "done"


async def test_an_invoice_for_a_customer_whose_contact_is_gone_is_booked_with_a_new_contact(
    platform: Platform,
) -> None:
    second = paid_checkout(customer_id="cus_gone_2")
    _, new, _ = await book_after_the_contact_was_deleted(
        platform,
        paid_checkout(customer_id="cus_gone_2"),
        second,
        lambda event: event.checkout_session_id,
    )
    (invoice,) = await invoices_of(platform, second.checkout_session_id)
    assert invoice["address"]["contactId"] == new
    assert len(contact_refusals(platform, "/v1/invoices")) == 1, "refused once, then sent with the new contact"
    link = await contacts.find(platform.pool, "cus_gone_2")
    assert link is not None and link.lexoffice_contact_id == new


async def test_a_contact_that_exists_but_is_refused_is_kept_and_the_document_fails_for_a_human(
    platform: Platform,
) -> None:
    first = paid_invoice(customer_id="cus_vendor")
    await platform.publish(first)
    await platform.attached(first.invoice_id)
    (contact,) = platform.sandbox.store.of_kind("contact")
    contact.fields["roles"] = {"vendor": {}}  # changed in the Lexware web app: no longer a customer

    second = paid_invoice(customer_id="cus_vendor")
    await platform.publish(second)

    async def failed() -> list[Any] | None:
        kinds = await platform.ledger_kinds(second.invoice_id)
        return kinds if "failed" in kinds else None

    await eventually(failed, timeout=60, what="the voucher failed")
    assert [c.id for c in platform.sandbox.store.of_kind("contact")] == [contact.id], "no second contact"
    link = await contacts.find(platform.pool, "cus_vendor")
    assert link is not None and link.lexoffice_contact_id == contact.id, "the link stands"
    assert (await platform.effects())["contact:cus_vendor"] == "done", "the contact step did not run again"
