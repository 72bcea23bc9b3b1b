"""Stripe events to billing events, in the basil+ layout and the pre-basil layout, from stripe-mock's fixtures."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe
from intplat_devstack.samples import (
    LATEST_API_VERSION,
    LEGACY_API_VERSION,
    build_event,
    to_legacy_layout,
)
from intplat_devstack.testing import stripe_signature

from intplat_common.events import (
    BillingEvent,
    CheckoutCompleted,
    InvoicePaid,
    PaymentFailed,
    StripeEventEnvelope,
    SubscriptionUpdated,
)
from stripe_gateway.mapping import MAPPED_TYPES, MappingError, map_event

CHECKOUT = "checkout.session.completed"
ASYNC_CHECKOUT = "checkout.session.async_payment_succeeded"
INVOICE = "invoice.paid"
SUBSCRIPTION = "customer.subscription.updated"
PAYMENT_FAILED = "payment_intent.payment_failed"

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)

both_layouts = pytest.mark.parametrize("legacy", [False, True], ids=["basil+", "pre-basil"])


def stripe_event(event_type: str, obj: dict[str, Any], *, legacy: bool = False, **kwargs: Any) -> dict[str, Any]:
    if legacy:
        obj = to_legacy_layout(event_type, obj)
    api_version = LEGACY_API_VERSION if legacy else LATEST_API_VERSION
    return build_event(event_type, obj, api_version=api_version, **kwargs)


def map_dict(event: dict[str, Any]) -> BillingEvent | None:
    return map_event(StripeEventEnvelope.model_validate(event))


# --- the four mapped types in both layouts


@both_layouts
def test_paid_checkout_session(objects: dict[str, dict[str, Any]], legacy: bool) -> None:
    event = stripe_event(CHECKOUT, objects[CHECKOUT], legacy=legacy, request_id="req_1", idempotency_key="ik-1")

    mapped = map_dict(event)

    assert isinstance(mapped, CheckoutCompleted)
    assert mapped.stripe_event_id == event["id"]
    assert mapped.stripe_api_version == (LEGACY_API_VERSION if legacy else LATEST_API_VERSION)
    assert (mapped.stripe_request_id, mapped.stripe_idempotency_key) == ("req_1", "ik-1")
    assert mapped.checkout_session_id == objects[CHECKOUT]["id"]
    assert mapped.customer_id == "cus_Alice"
    assert (mapped.mode, mapped.status, mapped.payment_status) == ("payment", "complete", "paid")
    assert mapped.fulfillable
    assert mapped.payment_intent_id == objects[CHECKOUT]["payment_intent"]
    assert (mapped.currency, mapped.amount_subtotal, mapped.amount_tax, mapped.amount_total) == ("eur", 2900, 551, 3451)
    assert mapped.customer is not None
    assert mapped.customer.email == "erika.mustermann@example.com"
    assert mapped.customer.address is not None
    assert mapped.customer.address.country == "DE"
    assert mapped.line_items is None  # Stripe leaves them out of the webhook payload
    assert mapped.partition_key() == "cus_Alice"


@both_layouts
def test_paid_invoice(objects: dict[str, dict[str, Any]], legacy: bool) -> None:
    event = stripe_event(INVOICE, objects[INVOICE], legacy=legacy)
    sent = event["data"]["object"]
    # The subscription, payment and tax come from the layout's own fields: the other layout's are absent.
    assert ("subscription" in sent, "parent" in sent, "total_taxes" in sent, "payments" in sent) == (
        legacy,
        not legacy,
        not legacy,
        not legacy,
    )

    mapped = map_dict(event)

    assert isinstance(mapped, InvoicePaid)
    assert mapped.invoice_id == objects[INVOICE]["id"]
    assert mapped.invoice_number == "DEMO-0001"
    assert mapped.status == "paid"
    assert mapped.customer_id == "cus_Alice"
    assert mapped.subscription_id == objects[SUBSCRIPTION]["id"]
    assert mapped.payment_intent_id == "pi_3DemoInvoice"
    assert mapped.currency == "eur"
    assert (mapped.subtotal, mapped.total_tax, mapped.total, mapped.amount_paid, mapped.amount_remaining) == (
        2000,
        380,
        2380,
        2380,
        0,
    )
    assert [(tax.amount, tax.taxable_amount, tax.tax_behavior, tax.tax_rate_id) for tax in mapped.taxes] == [
        (380, 2000, "exclusive", "txr_1DemoVat19")
    ]
    assert mapped.invoice_pdf_url is not None
    assert mapped.invoice_pdf_url.endswith("/pdf")
    assert mapped.hosted_invoice_url is not None
    assert mapped.hosted_invoice_url.startswith("https://invoice.stripe.com/")
    assert mapped.paid_at == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert mapped.lines_complete
    [line] = mapped.lines
    item = objects[SUBSCRIPTION]["items"]["data"][0]
    assert (line.subscription_id, line.subscription_item_id) == (objects[SUBSCRIPTION]["id"], item["id"])
    assert (line.price_id, line.product_id) == (item["price"]["id"], item["price"]["product"])
    assert (line.amount, line.proration, line.period_start, line.period_end) == (2000, False, JAN_1, FEB_1)
    assert [tax.amount for tax in line.taxes] == [380]


@both_layouts
def test_subscription_updated(objects: dict[str, dict[str, Any]], legacy: bool) -> None:
    event = stripe_event(SUBSCRIPTION, objects[SUBSCRIPTION], legacy=legacy, previous_attributes={"status": "past_due"})
    sent = event["data"]["object"]
    assert ("current_period_start" in sent) == legacy
    assert ("current_period_start" in sent["items"]["data"][0]) == (not legacy)

    mapped = map_dict(event)

    assert isinstance(mapped, SubscriptionUpdated)
    assert mapped.subscription_id == objects[SUBSCRIPTION]["id"]
    assert mapped.customer_id == "cus_Alice"
    assert (mapped.status, mapped.previous_status) == ("active", "past_due")
    assert mapped.previous_attributes == {"status": "past_due"}
    assert (mapped.current_period_start, mapped.current_period_end) == (JAN_1, FEB_1)
    assert mapped.currency == "eur"
    assert mapped.latest_invoice_id == objects[INVOICE]["id"]
    assert not mapped.cancel_at_period_end
    [item] = mapped.items
    source_item = objects[SUBSCRIPTION]["items"]["data"][0]
    assert (item.id, item.price_id, item.product_id) == (
        source_item["id"],
        source_item["price"]["id"],
        source_item["price"]["product"],
    )
    assert (item.unit_amount, item.currency, item.recurring_interval, item.quantity) == (2000, "eur", "month", 1)
    assert (item.current_period_start, item.current_period_end) == (JAN_1, FEB_1)


@both_layouts
def test_payment_failed(objects: dict[str, dict[str, Any]], legacy: bool) -> None:
    event = stripe_event(PAYMENT_FAILED, objects[PAYMENT_FAILED], legacy=legacy, request_id="req_2")

    mapped = map_dict(event)

    assert isinstance(mapped, PaymentFailed)
    assert mapped.payment_intent_id == objects[PAYMENT_FAILED]["id"]
    assert mapped.customer_id == "cus_Alice"
    assert (mapped.amount, mapped.currency, mapped.status) == (2380, "eur", "requires_payment_method")
    assert (mapped.failure_type, mapped.failure_code, mapped.decline_code) == (
        "card_error",
        "card_declined",
        "insufficient_funds",
    )
    assert mapped.failure_message == "Your card has insufficient funds."
    assert (mapped.payment_method_id, mapped.card_brand, mapped.card_last4) == ("pm_1DemoDeclined", "visa", "9995")
    assert mapped.latest_charge_id == "ch_3DemoDeclined"
    assert (mapped.stripe_request_id, mapped.stripe_idempotency_key) == ("req_2", None)
    assert mapped.invoice_id is None


# --- which events become billing events


def test_mapped_types() -> None:
    refunds = {"credit_note.created", "refund.created", "refund.updated"}  # tests in test_refund_mapping.py
    assert {CHECKOUT, ASYNC_CHECKOUT, INVOICE, SUBSCRIPTION, PAYMENT_FAILED, *refunds} == MAPPED_TYPES


def test_unpaid_checkout_is_not_a_completed_purchase(objects: dict[str, dict[str, Any]]) -> None:
    unpaid = objects[CHECKOUT] | {"payment_status": "unpaid", "payment_method_types": ["sepa_debit"]}

    assert map_dict(stripe_event(CHECKOUT, unpaid)) is None


def test_no_payment_required_checkout_is_completed(objects: dict[str, dict[str, Any]]) -> None:
    free = objects[CHECKOUT] | {"payment_status": "no_payment_required", "amount_total": 0}

    mapped = map_dict(stripe_event(CHECKOUT, free))

    assert isinstance(mapped, CheckoutCompleted)
    assert mapped.payment_status == "no_payment_required"
    assert mapped.fulfillable


def test_async_payment_succeeded_completes_the_checkout(objects: dict[str, dict[str, Any]]) -> None:
    event = stripe_event(ASYNC_CHECKOUT, objects[ASYNC_CHECKOUT])

    mapped = map_dict(event)

    assert isinstance(mapped, CheckoutCompleted)
    assert mapped.checkout_session_id == objects[ASYNC_CHECKOUT]["id"]
    assert mapped.payment_status == "paid"
    assert mapped.stripe_event_id == event["id"]


def test_unmapped_type_gives_none(objects: dict[str, dict[str, Any]]) -> None:
    assert map_dict(stripe_event("invoice.payment_failed", objects[INVOICE])) is None


# --- payload variations


def test_expanded_objects_give_their_ids(objects: dict[str, dict[str, Any]]) -> None:
    invoice = to_legacy_layout(INVOICE, objects[INVOICE]) | {
        "customer": {"id": "cus_Alice", "object": "customer", "email": "alice@example.com"},
        "payment_intent": {"id": "pi_expanded", "object": "payment_intent", "status": "succeeded"},
        "subscription": {"id": "sub_expanded", "object": "subscription"},
    }

    mapped = map_dict(build_event(INVOICE, invoice, api_version=LEGACY_API_VERSION))

    assert isinstance(mapped, InvoicePaid)
    assert (mapped.customer_id, mapped.payment_intent_id, mapped.subscription_id) == (
        "cus_Alice",
        "pi_expanded",
        "sub_expanded",
    )


def test_expanded_tax_rate_gives_id_and_percentage(objects: dict[str, dict[str, Any]]) -> None:
    invoice = to_legacy_layout(INVOICE, objects[INVOICE])
    rate = {"id": "txr_1DemoVat19", "object": "tax_rate", "percentage": 19.0, "display_name": "USt."}
    invoice["total_tax_amounts"][0]["tax_rate"] = rate

    mapped = map_dict(build_event(INVOICE, invoice, api_version=LEGACY_API_VERSION))

    assert isinstance(mapped, InvoicePaid)
    [tax] = mapped.taxes
    assert (tax.tax_rate_id, tax.percentage, tax.display_name) == ("txr_1DemoVat19", Decimal(19), "USt.")


def test_pre_basil_payment_intent_links_its_invoice(objects: dict[str, dict[str, Any]]) -> None:
    intent = to_legacy_layout(PAYMENT_FAILED, objects[PAYMENT_FAILED]) | {"invoice": "in_1Demo"}

    mapped = map_dict(build_event(PAYMENT_FAILED, intent, api_version=LEGACY_API_VERSION))

    assert isinstance(mapped, PaymentFailed)
    assert mapped.invoice_id == "in_1Demo"


@pytest.mark.parametrize(("request_field", "expected"), [("req_old", ("req_old", None)), (None, (None, None))])
def test_request_as_plain_id_or_null(
    objects: dict[str, dict[str, Any]], request_field: str | None, expected: tuple[str | None, str | None]
) -> None:
    event = stripe_event(SUBSCRIPTION, objects[SUBSCRIPTION]) | {"request": request_field}

    mapped = map_dict(event)

    assert mapped is not None
    assert (mapped.stripe_request_id, mapped.stripe_idempotency_key) == expected


def test_lines_with_more_pages_are_marked_incomplete(objects: dict[str, dict[str, Any]]) -> None:
    invoice = copy.deepcopy(objects[INVOICE])
    invoice["lines"]["has_more"] = True

    mapped = map_dict(stripe_event(INVOICE, invoice))

    assert isinstance(mapped, InvoicePaid)
    assert not mapped.lines_complete


def test_events_delivered_out_of_order_keep_their_own_created_and_id(objects: dict[str, dict[str, Any]]) -> None:
    earlier = stripe_event(SUBSCRIPTION, objects[SUBSCRIPTION], event_id="evt_earlier", created=1767225600)
    later = stripe_event(SUBSCRIPTION, objects[SUBSCRIPTION], event_id="evt_later", created=1767225660)

    mapped_later, mapped_earlier = map_dict(later), map_dict(earlier)

    assert mapped_later is not None
    assert mapped_earlier is not None
    assert (mapped_earlier.stripe_event_id, mapped_earlier.stripe_created) == ("evt_earlier", JAN_1)
    assert (mapped_later.stripe_event_id, mapped_later.stripe_created) == (
        "evt_later",
        datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
    )
    assert mapped_earlier.stripe_created.tzinfo is not None


# --- payloads the billing events cannot express


@pytest.mark.parametrize(
    ("event_type", "field"),
    [(INVOICE, "customer"), (SUBSCRIPTION, "currency"), (PAYMENT_FAILED, "amount"), (CHECKOUT, "payment_status")],
)
@both_layouts
def test_missing_required_field_is_a_mapping_error(
    objects: dict[str, dict[str, Any]], event_type: str, field: str, legacy: bool
) -> None:
    obj = {key: value for key, value in objects[event_type].items() if key != field}

    with pytest.raises(MappingError, match=rf"^{event_type}: data\.object\.{field} is missing$"):
        map_dict(stripe_event(event_type, obj, legacy=legacy))


def test_missing_nested_field_names_its_path(objects: dict[str, dict[str, Any]]) -> None:
    invoice = copy.deepcopy(objects[INVOICE])
    del invoice["lines"]["data"][0]["amount"]

    with pytest.raises(MappingError, match=r"data\.object\.lines\.data\[0\]\.amount is missing"):
        map_dict(stripe_event(INVOICE, invoice))


def test_validation_error_becomes_a_mapping_error(objects: dict[str, dict[str, Any]]) -> None:
    invoice = objects[INVOICE] | {"currency": "EUR", "amount_due": "2380"}

    with pytest.raises(MappingError) as caught:
        map_dict(stripe_event(INVOICE, invoice))

    assert isinstance(caught.value, ValueError)
    assert caught.value.reason.startswith("invoice.paid: payload does not fit InvoicePaid")
    assert "currency" in caught.value.reason
    assert "amount_due" in caught.value.reason


def test_garbled_timestamp_is_a_mapping_error(objects: dict[str, dict[str, Any]]) -> None:
    invoice = copy.deepcopy(objects[INVOICE])
    invoice["status_transitions"]["paid_at"] = "yesterday"

    with pytest.raises(MappingError, match=r"data\.object\.status_transitions\.paid_at is not a Unix timestamp"):
        map_dict(stripe_event(INVOICE, invoice))


# --- samples: the pre-basil layout, events and signatures (no stripe-mock needed)


def basil_invoice() -> dict[str, Any]:
    tax = {
        "amount": 190,
        "tax_behavior": "inclusive",
        "tax_rate_details": {"tax_rate": "txr_1"},
        "taxability_reason": "standard_rated",
        "taxable_amount": 1000,
        "type": "tax_rate_details",
    }
    line = {
        "id": "il_1",
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": True,
                "proration_details": {"credited_items": None},
                "subscription": "sub_1",
                "subscription_item": "si_1",
            },
        },
        "pricing": {"type": "price_details", "price_details": {"price": "price_1", "product": "prod_1"}},
        "taxes": [tax],
    }
    return {
        "id": "in_1",
        "object": "invoice",
        "status": "paid",
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {"plan": "pro"}, "subscription": "sub_1"},
        },
        "payments": {
            "object": "list",
            "data": [
                {"status": "canceled", "payment": {"type": "payment_intent", "payment_intent": "pi_cancelled"}},
                {"status": "paid", "payment": {"type": "charge", "charge": "ch_1"}},
            ],
        },
        "total_taxes": [tax],
        "lines": {"object": "list", "data": [line], "has_more": False},
    }


def test_legacy_invoice_moves_fields_back() -> None:
    invoice = basil_invoice()

    legacy = to_legacy_layout(INVOICE, invoice)

    assert not {"parent", "payments", "total_taxes"} & legacy.keys()
    assert legacy["subscription"] == "sub_1"
    assert legacy["subscription_details"] == {"metadata": {"plan": "pro"}}
    assert (legacy["payment_intent"], legacy["charge"], legacy["paid"]) == (None, "ch_1", True)
    assert legacy["tax"] == 190
    assert legacy["total_tax_amounts"] == [
        {
            "amount": 190,
            "inclusive": True,
            "tax_rate": "txr_1",
            "taxability_reason": "standard_rated",
            "taxable_amount": 1000,
        }
    ]
    assert invoice == basil_invoice(), "the input must not change"


def test_legacy_invoice_lines() -> None:
    [line] = to_legacy_layout(INVOICE, basil_invoice())["lines"]["data"]

    assert not {"parent", "pricing", "taxes"} & line.keys()
    assert (line["type"], line["subscription"], line["subscription_item"], line["proration"]) == (
        "subscription",
        "sub_1",
        "si_1",
        True,
    )
    assert line["price"] == {"id": "price_1", "object": "price", "product": "prod_1"}
    assert [(tax["amount"], tax["inclusive"], tax["tax_rate"]) for tax in line["tax_amounts"]] == [(190, True, "txr_1")]


def test_legacy_invoice_without_taxes_has_null_tax() -> None:
    legacy = to_legacy_layout(INVOICE, basil_invoice() | {"total_taxes": None})

    assert (legacy["tax"], legacy["total_tax_amounts"]) == (None, [])


def test_legacy_subscription_period_is_on_the_subscription() -> None:
    subscription: dict[str, Any] = {
        "id": "sub_1",
        "items": {
            "data": [
                {"id": "si_1", "current_period_start": 100, "current_period_end": 300},
                {"id": "si_2", "current_period_start": 50, "current_period_end": 200},
            ]
        },
    }

    legacy = to_legacy_layout(SUBSCRIPTION, subscription)

    assert (legacy["current_period_start"], legacy["current_period_end"]) == (50, 300)
    assert all("current_period_start" not in item for item in legacy["items"]["data"])
    assert "current_period_start" in subscription["items"]["data"][0]


def test_legacy_payment_intent_has_an_invoice_field() -> None:
    assert to_legacy_layout(PAYMENT_FAILED, {"id": "pi_1"}) == {"id": "pi_1", "invoice": None}


def test_legacy_checkout_session_is_unchanged() -> None:
    session = {"id": "cs_1", "payment_status": "paid"}

    assert to_legacy_layout(CHECKOUT, session) == session


def test_build_event_envelope() -> None:
    event = build_event(
        SUBSCRIPTION,
        {"id": "sub_1"},
        api_version=LEGACY_API_VERSION,
        created=1767225600,
        previous_attributes={"status": "trialing"},
        request_id="req_1",
        idempotency_key="ik-1",
    )

    assert event["id"].startswith("evt_")
    assert (event["object"], event["type"], event["api_version"], event["created"]) == (
        "event",
        SUBSCRIPTION,
        LEGACY_API_VERSION,
        1767225600,
    )
    assert event["livemode"] is False
    assert event["request"] == {"id": "req_1", "idempotency_key": "ik-1"}
    assert event["data"] == {"object": {"id": "sub_1"}, "previous_attributes": {"status": "trialing"}}
    assert "previous_attributes" not in build_event(INVOICE, {"id": "in_1"}, api_version=LATEST_API_VERSION)["data"]
    assert build_event(INVOICE, {}, api_version=LATEST_API_VERSION)["id"] != event["id"]


def test_latest_api_version_is_the_stripe_library_version() -> None:
    assert stripe.api_version == LATEST_API_VERSION
    assert LEGACY_API_VERSION < "2025-03-31"


def test_signature_verifies_with_stripe() -> None:
    payload = json.dumps(build_event(INVOICE, {"id": "in_1"}, api_version=LATEST_API_VERSION)).encode()
    header = stripe_signature(payload, "whsec_test_1")

    assert stripe.WebhookSignature.verify_header(payload.decode(), header, "whsec_test_1", tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload.decode(), header, "whsec_other", tolerance=300)
    assert stripe_signature(payload, "whsec_test_1", timestamp=1767225600).startswith("t=1767225600,v1=")
