"""Sample events and template models shared by the tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from intplat_common.events import (
    BookkeepingDocumentSynced,
    CheckoutCompleted,
    CheckoutLineItem,
    CustomerDetails,
    InstagramConnectionExpiring,
    InvoiceLine,
    InvoicePaid,
    PaymentFailed,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STRIPE: dict[str, Any] = {
    "stripe_event_id": "evt_1",
    "stripe_api_version": "2025-03-31.basil",
    "stripe_created": T0,
    "livemode": False,
}


def checkout(
    customer_id: str = "cus_1", email: str | None = "ada@example.com", locale: str | None = "de", **kw: Any
) -> CheckoutCompleted:
    values: dict[str, Any] = {
        **STRIPE,
        "checkout_session_id": "cs_test_1",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "customer_id": customer_id,
        "customer": CustomerDetails(email=email, name="Ada Lovelace", locale=locale),
        "currency": "eur",
        "amount_subtotal": 1000,
        "amount_tax": 190,
        "amount_total": 1190,
        "metadata": {"order_id": "ORD-42"},
        "line_items": (
            CheckoutLineItem(
                description="Pro plan", quantity=1, currency="eur", amount_subtotal=1000, amount_total=1190
            ),
        ),
    }
    values.update(kw)
    return CheckoutCompleted(**values)


def document_synced(
    file_url: str | None = "http://127.0.0.1:8002/v1/documents/0b0e6a8e-4d6f-4c1e-9c55-1f2d3e4a5b6c/file",
    **kw: Any,
) -> BookkeepingDocumentSynced:
    """lexoffice-bridge issued the invoice of checkout `cs_test_1` (booking path 2)."""
    values: dict[str, Any] = {
        "source_type": "stripe_checkout_session",
        "source_id": "cs_test_1",
        "stripe_event_id": "evt_1",
        "stripe_customer_id": "cus_1",
        "lexoffice_document_id": "0b0e6a8e-4d6f-4c1e-9c55-1f2d3e4a5b6c",
        "document_type": "invoice",
        "voucher_date": T0.date(),
        "voucher_status": "open",
        "currency": "eur",
        "total_gross_amount": 1190,
        "total_net_amount": 1000,
        "total_tax_amount": 190,
        "pdf_attached": True,
        "synced_at": T0,
        "document_file_url": file_url,
        "customer_email": "ada@example.com",
        "customer_locale": "de",
    }
    values.update(kw)
    return BookkeepingDocumentSynced(**values)


def invoice(
    customer_id: str = "cus_1", email: str | None = "ada@example.com", locale: str | None = "en", **kw: Any
) -> InvoicePaid:
    values: dict[str, Any] = {
        **STRIPE,
        "invoice_id": "in_1",
        "invoice_number": "INV-0001",
        "status": "paid",
        "customer_id": customer_id,
        "customer": CustomerDetails(email=email, name="Ada Lovelace", locale=locale) if email or locale else None,
        "currency": "eur",
        "amount_due": 1190,
        "amount_paid": 1190,
        "amount_remaining": 0,
        "subtotal": 1000,
        "total": 1190,
        "total_tax": 190,
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_inv1",
        "invoice_pdf_url": "https://pay.stripe.com/invoice/acct_1/test_inv1/pdf",
        "paid_at": T0,
        "lines": (InvoiceLine(id="il_1", description="Pro plan (March)", amount=1000, currency="eur", quantity=1),),
    }
    values.update(kw)
    return InvoicePaid(**values)


def payment_failed(customer_id: str | None = "cus_1", **kw: Any) -> PaymentFailed:
    values: dict[str, Any] = {
        **STRIPE,
        "payment_intent_id": "pi_1",
        "customer_id": customer_id,
        "amount": 1190,
        "currency": "eur",
        "status": "requires_payment_method",
        "card_brand": "visa",
        "card_last4": "4242",
        "failure_type": "card_error",
        "failure_code": "card_declined",
        "decline_code": "insufficient_funds",
        "failure_message": "Your card has insufficient funds.",
    }
    values.update(kw)
    return PaymentFailed(**values)


def connection_expiring(**kw: Any) -> InstagramConnectionExpiring:
    values: dict[str, Any] = {
        "account_id": "17841400000000001",
        "username": "ada.codes",
        "owner_customer_id": "cus_1",
        "owner_email": "ada@example.com",
        "expires_at": datetime(2030, 3, 8, 12, 0, tzinfo=UTC),
        "reason": "token_expiring",
    }
    values.update(kw)
    return InstagramConnectionExpiring(**values)


API_MODELS: dict[str, dict[str, Any]] = {
    "signup_confirmation": {"confirm_url": "https://app.example.com/confirm?t=1", "expires_in_hours": 48},
    "password_reset": {"reset_url": "https://app.example.com/reset?t=1", "expires_in_minutes": 30},
    "magic_link": {"login_url": "https://app.example.com/login?t=1", "expires_in_minutes": 15},
}
