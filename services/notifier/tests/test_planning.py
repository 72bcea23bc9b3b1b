"""Which event becomes which mail, with what model: pure functions, no infrastructure."""

from __future__ import annotations

from datetime import UTC, datetime

from notifier.consumers.billing import PlannedMail, plan_checkout, plan_invoice, plan_payment_failed, safe_url
from notifier.consumers.instagram import plan_reconnect
from notifier.ledger import clean, metadata_key, valid_address

from .samples import checkout, connection_expiring, invoice, payment_failed


def planned(value: PlannedMail | str) -> PlannedMail:
    assert isinstance(value, PlannedMail), value
    return value


def test_checkout_becomes_an_order_confirmation() -> None:
    mail = planned(plan_checkout(checkout()))
    assert mail.template == "order_confirmation"
    assert mail.model["paid"] is True
    assert mail.model["order_reference"] == "ORD-42"
    assert mail.model["amount_total"] == 1190
    assert mail.model["line_items"] == [{"description": "Pro plan", "quantity": 1, "amount_total": 1190}]
    assert mail.model["invoice_follows"] is False
    subscription = planned(plan_checkout(checkout(mode="subscription", payment_status="unpaid")))
    assert subscription.model["paid"] is False
    assert subscription.model["invoice_follows"] is True


def test_checkouts_that_sell_nothing_send_nothing() -> None:
    assert plan_checkout(checkout(mode="setup", currency=None, amount_total=None)) == (
        "setup-mode checkout: nothing was bought"
    )
    assert plan_checkout(checkout(status="expired")) == "checkout session is expired, not complete"


def test_invoice_receipt_links_only_http() -> None:
    mail = planned(plan_invoice(invoice()))
    assert mail.template == "invoice_receipt"
    assert mail.model["invoice_number"] == "INV-0001"
    assert mail.model["hosted_invoice_url"] == "https://invoice.stripe.com/i/acct_1/test_inv1"
    hostile = planned(plan_invoice(invoice(hosted_invoice_url="javascript:alert(1)", invoice_pdf_url=None)))
    assert hostile.model["hosted_invoice_url"] is None
    assert hostile.model["invoice_pdf_url"] is None
    assert safe_url("http://x.test/a") == "http://x.test/a"
    assert safe_url("https://x.test/" + "a" * 2000) is None


def test_unpaid_invoices_get_no_receipt() -> None:
    assert plan_invoice(invoice(amount_paid=0, amount_due=0, total=0, subtotal=0, total_tax=0)) == (
        "nothing was paid (e.g. a trial or fully discounted invoice)"
    )


def test_payment_failed_keeps_what_the_reason_and_link_need() -> None:
    mail = planned(plan_payment_failed(payment_failed()))
    assert mail.template == "payment_failed"
    assert mail.model["decline_code"] == "insufficient_funds"
    assert mail.model["card_brand"] == "Visa"
    assert mail.model["portal_customer_id"] == "cus_1"
    assert mail.model["portal_url"] is None, "made when the mail is rendered: portal sessions expire in minutes"


def test_reconnect_reminder_before_and_after_expiry() -> None:
    before = planned(
        plan_reconnect(connection_expiring(), "https://app.test/instagram/reconnect", datetime(2030, 3, 1, tzinfo=UTC))
    )
    assert before.model["expired"] is False
    assert before.model["reconnect_url"] == "https://app.test/instagram/reconnect?account_id=17841400000000001"
    after = planned(
        plan_reconnect(connection_expiring(), "https://app.test/connect?x=1", datetime(2031, 1, 1, tzinfo=UTC))
    )
    assert after.model["expired"] is True
    assert after.model["reconnect_url"].endswith("?x=1&account_id=17841400000000001")
    revoked = planned(
        plan_reconnect(
            connection_expiring(reason="permission_revoked"), "https://a.test/c", datetime(2030, 1, 1, tzinfo=UTC)
        )
    )
    assert revoked.model["expired"] is True


def test_address_check_is_loose_but_refuses_separators() -> None:
    assert valid_address("ada@example.com")
    assert valid_address("ada+billing@mail.example.co.uk")
    for bad in (None, "", "ada", "ada@localhost", "a b@example.com", "a@example.com,b@example.com", "a\x00@b.com"):
        assert not valid_address(bad), bad


def test_metadata_key_fits_postmark_and_clean_strips_what_postgres_refuses() -> None:
    key = metadata_key("/stripe-gateway#evt_" + "x" * 300 + ":invoice_receipt:ada@example.com")
    assert len(key) == 40 and key == metadata_key(
        "/stripe-gateway#evt_" + "x" * 300 + ":invoice_receipt:ada@example.com"
    )
    assert clean({"a\x00": ["b\x00", "\ud800x", 1, None]}) == {"a": ["b", "\ufffdx", 1, None]}
