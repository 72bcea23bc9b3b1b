"""Sample Stripe events for `make demo`, tests and benchmarks, built from Stripe's fixtures served by stripe-mock.

stripe-mock answers with Stripe's own fixture objects in the latest API layout, filled with placeholders
(status `draft`, no amounts, periods that end before they start). The adjustments below turn them into one
coherent story: a customer in Germany pays a checkout, pays a subscription invoice with 19 % VAT, and has a
card declined; the invoice is then corrected in full by a credit note that refunds it, and the checkout's payment is
refunded. `to_legacy_layout` renders an object as an endpoint pinned before `2025-03-31.basil` sees it.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import stripe

__all__ = [
    "DEMO_CUSTOMER_ID",
    "LATEST_API_VERSION",
    "LEGACY_API_VERSION",
    "bookable_invoice",
    "build_event",
    "fetch_fixture_objects",
    "to_legacy_layout",
]

LATEST_API_VERSION: str = stripe.api_version
LEGACY_API_VERSION = "2024-06-20"
DEMO_CUSTOMER_ID = "cus_demo"

_CHECKOUT_SESSION_ID = "cs_test_a1Demo"
_SEPA_CHECKOUT_SESSION_ID = "cs_test_a1DemoSepa"
_INVOICE_ID = "in_1Demo"
_SUBSCRIPTION_ID = "sub_1Demo"
_FAILED_PAYMENT_INTENT_ID = "pi_3DemoDeclined"
_INVOICE_PAYMENT_INTENT_ID = "pi_3DemoInvoice"
_VAT_RATE_ID = "txr_1DemoVat19"
_REDUCED_VAT_RATE_ID = "txr_1DemoVat7"
_CREDIT_NOTE_ID = "cn_1Demo"
_CREDIT_NOTE_REFUND_ID = "re_1DemoCreditNote"
_CHECKOUT_REFUND_ID = "re_1DemoCheckout"
_CURRENCY = "eur"

# January 2026 (UTC): fixed, so tests can compare periods.
_PERIOD_START = 1767225600
_PERIOD_END = 1769904000
_PAID_AT = _PERIOD_START + 3600
_REFUNDED_AT = _PERIOD_START + 7 * 86400

_CUSTOMER_EMAIL = "erika.mustermann@example.com"
_CUSTOMER_NAME = "Erika Mustermann"
_CUSTOMER_ADDRESS = {
    "line1": "Heidestraße 17",
    "line2": None,
    "postal_code": "51147",
    "city": "Köln",
    "state": None,
    "country": "DE",
}

_FIXTURE_PATHS = {
    "checkout.session": f"/v1/checkout/sessions/{_CHECKOUT_SESSION_ID}",
    "invoice": f"/v1/invoices/{_INVOICE_ID}",
    "subscription": f"/v1/subscriptions/{_SUBSCRIPTION_ID}",
    "payment_intent": f"/v1/payment_intents/{_FAILED_PAYMENT_INTENT_ID}",
    "credit_note": f"/v1/credit_notes/{_CREDIT_NOTE_ID}",
    "refund": f"/v1/refunds/{_CHECKOUT_REFUND_ID}",
}


async def fetch_fixture_objects(
    api_base: str, client: httpx.AsyncClient | None = None, *, customer_id: str = DEMO_CUSTOMER_ID
) -> dict[str, dict[str, Any]]:
    """Latest-layout objects keyed by the Stripe event type that carries them, ready for `build_event`."""
    if client is None:
        async with httpx.AsyncClient(timeout=10.0) as own_client:
            return await fetch_fixture_objects(api_base, own_client, customer_id=customer_id)
    fetched = await asyncio.gather(*(_fetch(client, api_base, path) for path in _FIXTURE_PATHS.values()))
    fixtures = dict(zip(_FIXTURE_PATHS, fetched, strict=True))
    subscription = _active_subscription(fixtures["subscription"], customer_id)
    checkout = _paid_checkout(fixtures["checkout.session"], customer_id)
    return {
        "checkout.session.completed": checkout,
        "checkout.session.async_payment_succeeded": _paid_sepa_checkout(fixtures["checkout.session"], customer_id),
        "invoice.paid": _paid_invoice(fixtures["invoice"], customer_id, subscription),
        "customer.subscription.updated": subscription,
        "payment_intent.payment_failed": _declined_payment_intent(fixtures["payment_intent"], customer_id),
        "credit_note.created": _refunding_credit_note(fixtures["credit_note"], customer_id),
        "refund.created": _checkout_refund(fixtures["refund"], customer_id, checkout),
    }


async def _fetch(client: httpx.AsyncClient, api_base: str, path: str) -> dict[str, Any]:
    response = await client.get(f"{api_base.rstrip('/')}{path}", headers={"Authorization": "Bearer sk_test_123"})
    response.raise_for_status()
    body = response.json()
    if not isinstance(body, dict):
        raise TypeError(f"stripe-mock answered {path} with {type(body).__name__}, not an object")
    return body


def _paid_checkout(session: dict[str, Any], customer_id: str) -> dict[str, Any]:
    return session | {
        "customer": customer_id,
        "customer_creation": None,
        "customer_details": {
            "address": _CUSTOMER_ADDRESS,
            "business_name": None,
            "email": _CUSTOMER_EMAIL,
            "individual_name": None,
            "name": _CUSTOMER_NAME,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
        "client_reference_id": "order_1001",
        "metadata": {"order_id": "1001"},
        "locale": "de",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "currency": _CURRENCY,
        "currency_conversion": None,
        "amount_subtotal": 2900,
        "amount_total": 3451,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 551},
        "shipping_cost": None,
        "created": _PERIOD_START,
        "expires_at": _PERIOD_START + 86400,
        "url": None,  # Stripe clears the URL once the session is complete
    }


def _paid_sepa_checkout(session: dict[str, Any], customer_id: str) -> dict[str, Any]:
    return _paid_checkout(session, customer_id) | {
        "id": _SEPA_CHECKOUT_SESSION_ID,
        "payment_method_types": ["sepa_debit"],
    }


def _active_subscription(subscription: dict[str, Any], customer_id: str) -> dict[str, Any]:
    item = subscription["items"]["data"][0]
    price = item["price"] | {
        "currency": _CURRENCY,
        "unit_amount": 2000,
        "unit_amount_decimal": "2000",
        "lookup_key": "pro_monthly",
        "tax_behavior": "exclusive",
        "transform_quantity": None,
    }
    items_list = subscription["items"] | {"url": f"/v1/subscription_items?subscription={_SUBSCRIPTION_ID}"}
    items = [
        item
        | {
            "price": price,
            "quantity": 1,
            "subscription": _SUBSCRIPTION_ID,
            "current_period_start": _PERIOD_START,
            "current_period_end": _PERIOD_END,
        }
    ]
    return subscription | {
        "customer": customer_id,
        "status": "active",
        "currency": _CURRENCY,
        "items": items_list | {"data": items},
        "latest_invoice": _INVOICE_ID,
        "billing_cycle_anchor": _PERIOD_START,
        "billing_cycle_anchor_config": None,
        "start_date": _PERIOD_START,
        "created": _PERIOD_START,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "ended_at": None,
        "trial_start": None,
        "trial_end": None,
        "pause_collection": None,
        "pending_update": None,
        "pending_invoice_item_interval": None,
        "next_pending_invoice_item_invoice": None,
        "transfer_data": None,
    }


def _paid_invoice(invoice: dict[str, Any], customer_id: str, subscription: dict[str, Any]) -> dict[str, Any]:
    item = subscription["items"]["data"][0]
    subtotal, tax = 2000, 380
    vat = _vat(taxable_amount=subtotal, amount=tax)
    line = invoice["lines"]["data"][0] | {
        "amount": subtotal,
        "currency": _CURRENCY,
        "description": "1 \u00d7 Pro (at €20.00 / month)",
        "invoice": _INVOICE_ID,
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": _SUBSCRIPTION_ID,
                "subscription_item": item["id"],
            },
        },
        "pricing": {
            "type": "price_details",
            "price_details": {"price": item["price"]["id"], "product": item["price"]["product"]},
            "unit_amount_decimal": "2000",
        },
        "period": {"start": _PERIOD_START, "end": _PERIOD_END},
        "quantity": 1,
        "subscription": _SUBSCRIPTION_ID,
        "subtotal": subtotal,
        "taxes": [vat],
    }
    return invoice | {
        "customer": customer_id,
        "customer_email": _CUSTOMER_EMAIL,
        "customer_name": _CUSTOMER_NAME,
        "customer_address": _CUSTOMER_ADDRESS,
        "account_country": "DE",
        "status": "paid",
        "number": "DEMO-0001",
        "billing_reason": "subscription_cycle",
        "currency": _CURRENCY,
        "amount_due": subtotal + tax,
        "amount_paid": subtotal + tax,
        "amount_remaining": 0,
        "amount_overpaid": 0,
        "amount_shipping": 0,
        "shipping_cost": None,
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "total": subtotal + tax,
        "total_excluding_tax": subtotal,
        "total_taxes": [vat],
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1Demo/test_{_INVOICE_ID}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_1Demo/test_{_INVOICE_ID}/pdf",
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": _SUBSCRIPTION_ID},
        },
        "payments": _invoice_payments(subtotal + tax),
        "lines": invoice["lines"] | {"data": [line], "has_more": False, "url": f"/v1/invoices/{_INVOICE_ID}/lines"},
        "attempt_count": 1,
        "attempted": True,
        "created": _PERIOD_START,
        "effective_at": _PERIOD_START,
        "period_start": _PERIOD_START,
        "period_end": _PERIOD_START,
        "due_date": None,
        "next_payment_attempt": None,
        "last_finalization_error": None,
        "from_invoice": None,
        "webhooks_delivered_at": _PERIOD_START,
        "status_transitions": {
            "finalized_at": _PERIOD_START,
            "marked_uncollectible_at": None,
            "paid_at": _PAID_AT,
            "voided_at": None,
        },
    }


def bookable_invoice(invoice: dict[str, Any], *, invoice_id: str, number: str, customer_id: str) -> dict[str, Any]:
    """The paid invoice of `fetch_fixture_objects` as Lexoffice can book it: a second line (an e-book, 7 % VAT)
    beside the subscription (19 %), both tax rates expanded with their percentages (the fixture names only a rate
    id), its own id, number and customer; the PDF URL keeps Stripe's path layout (`make run` serves it locally)."""
    pro, ebook = 2000, 1000
    taxes = [
        _vat(taxable_amount=pro, amount=380, rate=_tax_rate(_VAT_RATE_ID, 19.0)),
        _vat(taxable_amount=ebook, amount=70, rate=_tax_rate(_REDUCED_VAT_RATE_ID, 7.0)),
    ]
    subscription_line = invoice["lines"]["data"][0] | {"invoice": invoice_id, "taxes": [taxes[0]]}
    ebook_line = subscription_line | {
        "id": f"il_{invoice_id}_ebook",
        "amount": ebook,
        "subtotal": ebook,
        "description": "1 \u00d7 Handbuch (E-Book)",
        "parent": {"type": "invoice_item_details", "invoice_item_details": None, "subscription_item_details": None},
        "pricing": None,
        "subscription": None,
        "taxes": [taxes[1]],
    }
    subtotal, tax = pro + ebook, 380 + 70
    payments = _invoice_payments(subtotal + tax)
    return invoice | {
        "id": invoice_id,
        "number": number,
        "customer": customer_id,
        "amount_due": subtotal + tax,
        "amount_paid": subtotal + tax,
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "total": subtotal + tax,
        "total_excluding_tax": subtotal,
        "total_taxes": taxes,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1Demo/test_{invoice_id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_1Demo/test_{invoice_id}/pdf",
        "payments": payments | {"data": [payment | {"invoice": invoice_id} for payment in payments["data"]]},
        "lines": invoice["lines"]
        | {"data": [subscription_line, ebook_line], "url": f"/v1/invoices/{invoice_id}/lines"},
    }


def _tax_rate(rate_id: str, percentage: float) -> dict[str, Any]:
    """A German VAT rate as Stripe renders an expanded `tax_rate`."""
    return {
        "id": rate_id,
        "object": "tax_rate",
        "active": True,
        "country": "DE",
        "display_name": "USt.",
        "inclusive": False,
        "jurisdiction": "DE",
        "percentage": percentage,
        "tax_type": "vat",
    }


def _vat(*, taxable_amount: int, amount: int, rate: str | dict[str, Any] = _VAT_RATE_ID) -> dict[str, Any]:
    return {
        "amount": amount,
        "tax_behavior": "exclusive",
        "tax_rate_details": {"tax_rate": rate},
        "taxability_reason": "standard_rated",
        "taxable_amount": taxable_amount,
        "type": "tax_rate_details",
    }


def _invoice_payments(amount: int) -> dict[str, Any]:
    """`payments` is includable, not sent by default; the samples carry it to exercise the basil payment path."""
    payment = {
        "id": "inpay_1Demo",
        "object": "invoice_payment",
        "amount_paid": amount,
        "amount_requested": amount,
        "created": _PERIOD_START,
        "currency": _CURRENCY,
        "invoice": _INVOICE_ID,
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": _INVOICE_PAYMENT_INTENT_ID},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": _PAID_AT},
    }
    return {"object": "list", "data": [payment], "has_more": False, "url": "/v1/invoice_payments"}


def _declined_payment_intent(intent: dict[str, Any], customer_id: str) -> dict[str, Any]:
    charge_id = "ch_3DemoDeclined"
    payment_method = {
        "id": "pm_1DemoDeclined",
        "object": "payment_method",
        "type": "card",
        "customer": customer_id,
        "livemode": False,
        "created": _PERIOD_START,
        "billing_details": {
            "address": _CUSTOMER_ADDRESS,
            "email": _CUSTOMER_EMAIL,
            "name": _CUSTOMER_NAME,
            "phone": None,
        },
        "card": {"brand": "visa", "last4": "9995", "exp_month": 12, "exp_year": 2030, "country": "US"},
    }
    return intent | {
        "customer": customer_id,
        "amount": 2380,
        "currency": _CURRENCY,
        "description": "Pro plan upgrade",
        "metadata": {"order_id": "1002"},
        "status": "requires_payment_method",
        "canceled_at": None,
        "next_action": None,
        "processing": None,
        "payment_method": None,  # Stripe detaches the failed method: the customer has to provide another
        "latest_charge": charge_id,
        "created": _PAID_AT,
        "last_payment_error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "advice_code": "try_again_later",
            "network_decline_code": "51",
            "charge": charge_id,
            "payment_method": payment_method,
            "payment_method_type": "card",
        },
    }


def _refunding_credit_note(note: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """The whole invoice `_paid_invoice` credited and refunded to the card (basil+: `refunds[]`, `total_taxes[]`)."""
    subtotal, tax = 2000, 380
    vat = _vat(taxable_amount=subtotal, amount=tax)
    line = note["lines"]["data"][0] | {
        "amount": subtotal,
        "description": "1 \u00d7 Pro (at €20.00 / month)",
        "pretax_credit_amounts": [],
        "taxes": [vat],
    }
    return note | {
        "customer": customer_id,
        "invoice": _INVOICE_ID,
        "number": "DEMO-0001-CN-01",
        "currency": _CURRENCY,
        "amount": subtotal + tax,
        "amount_shipping": 0,
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "total": subtotal + tax,
        "total_excluding_tax": subtotal,
        "total_taxes": [vat],
        "lines": note["lines"] | {"data": [line], "has_more": False},
        "reason": "product_unsatisfactory",
        "refunds": [
            {
                "amount_refunded": subtotal + tax,
                "payment_record_refund": None,
                "refund": _CREDIT_NOTE_REFUND_ID,
                "type": "refund",
            }
        ],
        "out_of_band_amount": None,
        "post_payment_amount": subtotal + tax,
        "pre_payment_amount": 0,
        "pretax_credit_amounts": [],
        "shipping_cost": None,
        "status": "issued",
        "type": "post_payment",
        "created": _REFUNDED_AT,
        "effective_at": _REFUNDED_AT,
        "voided_at": None,
        "pdf": f"https://pay.stripe.com/credit_notes/acct_1Demo/test_{_CREDIT_NOTE_ID}/pdf",
    }


def _checkout_refund(refund: dict[str, Any], customer_id: str, checkout: dict[str, Any]) -> dict[str, Any]:
    """The checkout's payment refunded in full, by card (succeeded at once)."""
    return refund | {
        "id": _CHECKOUT_REFUND_ID,
        "customer": customer_id,
        "amount": checkout["amount_total"],
        "currency": _CURRENCY,
        "charge": "ch_3DemoCheckout",
        "payment_intent": checkout["payment_intent"],
        "reason": "requested_by_customer",
        "status": "succeeded",
        "metadata": {"order_id": "1001"},
        "created": _REFUNDED_AT,
    }


# --- the pre-basil layout


def to_legacy_layout(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` (latest layout) as an endpoint pinned to `LEGACY_API_VERSION` would receive it; `obj` is not changed."""
    convert = _LEGACY_CONVERTERS.get(event_type.rsplit(".", 1)[0])
    legacy = copy.deepcopy(obj)
    return convert(legacy) if convert else legacy


def _legacy_invoice(invoice: dict[str, Any]) -> dict[str, Any]:
    parent = invoice.pop("parent", None) or {}
    subscription_details = parent.get("subscription_details") or {}
    invoice["subscription"] = subscription_details.get("subscription")
    invoice["subscription_details"] = (
        {"metadata": subscription_details.get("metadata")} if subscription_details else None
    )
    invoice["quote"] = (parent.get("quote_details") or {}).get("quote")
    payment = _settling_payment(invoice.pop("payments", None))
    invoice["payment_intent"] = payment.get("payment_intent")
    invoice["charge"] = payment.get("charge")
    invoice["paid"] = invoice.get("status") == "paid"
    invoice["paid_out_of_band"] = bool(invoice.pop("amount_paid_off_stripe", 0))
    total_taxes = invoice.pop("total_taxes", None) or []
    invoice["tax"] = sum(tax["amount"] for tax in total_taxes) if total_taxes else None
    invoice["total_tax_amounts"] = [_legacy_tax_amount(tax) for tax in total_taxes]
    lines = invoice.get("lines")
    if isinstance(lines, dict):
        lines["data"] = [_legacy_invoice_line(line) for line in lines.get("data") or []]
    return invoice


def _settling_payment(payments: dict[str, Any] | None) -> dict[str, Any]:
    data = (payments or {}).get("data") or []
    paid = [payment for payment in data if payment.get("status") == "paid"]
    if not paid:
        return {}
    return paid[0].get("payment") or {}


def _legacy_tax_amount(tax: dict[str, Any]) -> dict[str, Any]:
    return {
        "amount": tax["amount"],
        "inclusive": tax.get("tax_behavior") == "inclusive",
        "tax_rate": (tax.get("tax_rate_details") or {}).get("tax_rate"),
        "taxability_reason": tax.get("taxability_reason"),
        "taxable_amount": tax.get("taxable_amount"),
    }


def _legacy_invoice_line(line: dict[str, Any]) -> dict[str, Any]:
    parent = line.pop("parent", None) or {}
    kind = parent.get("type")
    details = (parent.get(kind) if isinstance(kind, str) else None) or {}
    line["type"] = "subscription" if kind == "subscription_item_details" else "invoiceitem"
    line["subscription"] = details.get("subscription", line.get("subscription"))
    line["subscription_item"] = details.get("subscription_item")
    line["invoice_item"] = details.get("invoice_item")
    line["proration"] = details.get("proration", False)
    line["proration_details"] = details.get("proration_details")
    price = (line.pop("pricing", None) or {}).get("price_details") or {}
    line["price"] = {"id": price["price"], "object": "price", "product": price.get("product")} if price else None
    line["tax_amounts"] = [_legacy_tax_amount(tax) for tax in line.pop("taxes", None) or []]
    return line


def _legacy_subscription(subscription: dict[str, Any]) -> dict[str, Any]:
    items = (subscription.get("items") or {}).get("data") or []
    starts = [item.pop("current_period_start") for item in items if "current_period_start" in item]
    ends = [item.pop("current_period_end") for item in items if "current_period_end" in item]
    subscription["current_period_start"] = min(starts, default=None)
    subscription["current_period_end"] = max(ends, default=None)
    return subscription


def _legacy_credit_note(note: dict[str, Any]) -> dict[str, Any]:
    refunds = note.pop("refunds", None) or []
    note["refund"] = refunds[0]["refund"] if refunds else None
    note["tax_amounts"] = [_legacy_tax_amount(tax) for tax in note.pop("total_taxes", None) or []]
    lines = note.get("lines")
    if isinstance(lines, dict):
        for line in lines.get("data") or []:
            line["tax_amounts"] = [_legacy_tax_amount(tax) for tax in line.pop("taxes", None) or []]
    return note


def _legacy_payment_intent(intent: dict[str, Any]) -> dict[str, Any]:
    intent.setdefault("invoice", None)  # basil removed the PaymentIntent's link to its invoice
    return intent


_LEGACY_CONVERTERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "invoice": _legacy_invoice,
    "customer.subscription": _legacy_subscription,
    "payment_intent": _legacy_payment_intent,
    "credit_note": _legacy_credit_note,
}


# --- events and signatures


def build_event(
    event_type: str,
    obj: dict[str, Any],
    *,
    api_version: str,
    event_id: str | None = None,
    created: int | None = None,
    previous_attributes: dict[str, Any] | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A Stripe v1 snapshot event carrying a copy of `obj`."""
    data: dict[str, Any] = {"object": copy.deepcopy(obj)}
    if previous_attributes is not None or event_type.endswith(".updated"):
        data["previous_attributes"] = previous_attributes or {}
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": api_version,
        "created": int(time.time()) if created is None else created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }
