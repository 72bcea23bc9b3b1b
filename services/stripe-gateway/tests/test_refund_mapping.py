"""Refunds to `billing.refund.succeeded.v1`: credit notes and plain refunds, both layouts, from stripe-mock."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from intplat_devstack.samples import LATEST_API_VERSION, LEGACY_API_VERSION, build_event, to_legacy_layout

from intplat_common.events import DECIMAL_PATTERN, RefundSucceeded, StripeEventEnvelope
from stripe_gateway.mapping import MappingError

from .test_mapping import both_layouts, map_dict, stripe_event

CREDIT_NOTE = "credit_note.created"
REFUND_CREATED = "refund.created"
REFUND_UPDATED = "refund.updated"
JAN_8 = datetime(2026, 1, 8, tzinfo=UTC)


def mapped_refund(event: dict[str, Any]) -> RefundSucceeded:
    mapped = map_dict(event)
    assert isinstance(mapped, RefundSucceeded)
    return mapped


@both_layouts
def test_credit_note_refers_to_its_invoice_with_tax_per_rate(objects: dict[str, dict[str, Any]], legacy: bool) -> None:
    note = objects[CREDIT_NOTE]
    event = stripe_event(CREDIT_NOTE, note, legacy=legacy, request_id="req_cn")

    mapped = mapped_refund(event)

    assert mapped.source == "credit_note"
    assert (mapped.stripe_event_id, mapped.stripe_request_id) == (event["id"], "req_cn")
    assert mapped.customer_id == "cus_Alice"
    assert mapped.partition_key() == "cus_Alice"
    assert (mapped.invoice_id, mapped.invoice_number) == (objects["invoice.paid"]["id"], None)
    assert (mapped.credit_note_id, mapped.credit_note_number) == (note["id"], "DEMO-0001-CN-01")
    assert mapped.credit_note_pdf_url == note["pdf"]
    assert mapped.credit_note_refund_ids == ("re_1DemoCreditNote",)
    assert mapped.refund_id is None
    assert (mapped.currency, mapped.amount, mapped.subtotal, mapped.total_excluding_tax) == ("eur", 2380, 2000, 2000)
    assert mapped.refunded_amount == (None if legacy else 2380), "older credit notes name their refund, no amount"
    assert mapped.reason == "product_unsatisfactory"
    assert mapped.created_at == JAN_8
    assert mapped.taxes is not None
    [tax] = mapped.taxes
    assert (tax.amount, tax.taxable_amount, tax.tax_behavior) == (380, 2000, "exclusive")
    assert (tax.tax_rate_id, tax.taxability_reason) == ("txr_1DemoVat19", "standard_rated")


@both_layouts
def test_succeeded_refund_names_its_payment(objects: dict[str, dict[str, Any]], legacy: bool) -> None:
    refund = objects[REFUND_CREATED]

    mapped = mapped_refund(stripe_event(REFUND_CREATED, refund, legacy=legacy))

    assert mapped.source == "refund"
    assert mapped.refund_id == "re_1DemoCheckout"
    assert mapped.charge_id == "ch_3DemoCheckout"
    assert mapped.payment_intent_id == objects["checkout.session.completed"]["payment_intent"], (
        "the PaymentIntent is what links a refund to its checkout (or, through InvoicePayment, its invoice)"
    )
    assert mapped.customer_id == "cus_Alice"
    assert (mapped.currency, mapped.amount, mapped.reason) == ("eur", 3451, "requested_by_customer")
    assert mapped.created_at == JAN_8
    assert mapped.metadata == {"order_id": "1001"}
    assert mapped.taxes is None, "Stripe gives no tax breakdown for a plain refund"
    assert (mapped.invoice_id, mapped.credit_note_id, mapped.credit_note_refund_ids) == (None, None, ())


def test_refund_without_customer_is_keyed_by_the_refund(objects: dict[str, dict[str, Any]]) -> None:
    refund = objects[REFUND_CREATED] | {"customer": None}

    mapped = mapped_refund(stripe_event(REFUND_CREATED, refund))

    assert mapped.customer_id is None
    assert mapped.partition_key() == "re_1DemoCheckout"
    assert (
        mapped.partition_key()
        == StripeEventEnvelope.model_validate(stripe_event(REFUND_CREATED, refund)).partition_key()
    ), "the raw event and its billing event share a key"


@pytest.mark.parametrize("status", ["pending", "requires_action", "failed", "canceled"])
def test_refund_not_succeeded_is_not_mapped(objects: dict[str, dict[str, Any]], status: str) -> None:
    refund = objects[REFUND_CREATED] | {"status": status}

    assert map_dict(stripe_event(REFUND_CREATED, refund)) is None


def test_pending_refund_is_mapped_once_when_it_succeeds(objects: dict[str, dict[str, Any]]) -> None:
    pending = objects[REFUND_CREATED] | {"status": "pending"}
    succeeded = objects[REFUND_CREATED]
    created = stripe_event(REFUND_CREATED, pending)
    settled = stripe_event(REFUND_UPDATED, succeeded, previous_attributes={"status": "pending"})
    later_update = stripe_event(
        REFUND_UPDATED, succeeded, previous_attributes={"destination_details": {"card": {"type": "pending"}}}
    )

    results = [map_dict(event) for event in (created, settled, later_update)]

    assert results[0] is None
    assert isinstance(results[1], RefundSucceeded)
    assert results[1].stripe_event_id == settled["id"]
    assert results[2] is None, "an update that does not change the status is not a second refund"


def test_update_of_a_refund_that_succeeded_at_once_is_not_mapped_again(objects: dict[str, dict[str, Any]]) -> None:
    update = stripe_event(REFUND_UPDATED, objects[REFUND_CREATED], previous_attributes={"metadata": {}})

    assert map_dict(update) is None


def test_expanded_invoice_gives_its_number(objects: dict[str, dict[str, Any]]) -> None:
    note = objects[CREDIT_NOTE] | {"invoice": {"id": "in_1Demo", "object": "invoice", "number": "DEMO-0001"}}

    mapped = mapped_refund(stripe_event(CREDIT_NOTE, note))

    assert (mapped.invoice_id, mapped.invoice_number) == ("in_1Demo", "DEMO-0001")


def test_expanded_tax_rate_gives_a_decimal_percentage_string(objects: dict[str, dict[str, Any]]) -> None:
    note = copy.deepcopy(objects[CREDIT_NOTE])
    note["total_taxes"][0]["tax_rate_details"]["tax_rate"] = {"id": "txr_1DemoVat19", "percentage": 19.0}

    mapped = mapped_refund(stripe_event(CREDIT_NOTE, note))

    assert mapped.taxes is not None
    assert mapped.taxes[0].percentage == Decimal(19)
    [wire] = json.loads(mapped.model_dump_json())["taxes"]
    assert wire["percentage"] == "19.0"
    assert re.fullmatch(DECIMAL_PATTERN, wire["percentage"])


def test_credit_note_without_refunds_credits_the_balance(objects: dict[str, dict[str, Any]]) -> None:
    note = objects[CREDIT_NOTE] | {"refunds": [], "type": "post_payment"}

    mapped = mapped_refund(stripe_event(CREDIT_NOTE, note))

    assert mapped.credit_note_refund_ids == ()
    assert mapped.refunded_amount is None


def test_credit_note_refund_without_refund_id_is_skipped(objects: dict[str, dict[str, Any]]) -> None:
    note = copy.deepcopy(objects[CREDIT_NOTE])
    note["refunds"].append({"amount_refunded": 0, "refund": None, "type": "payment_record_refund"})

    mapped = mapped_refund(stripe_event(CREDIT_NOTE, note))

    assert mapped.credit_note_refund_ids == ("re_1DemoCreditNote",)


# --- payloads the refund event cannot express


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        (CREDIT_NOTE, "customer"),
        (CREDIT_NOTE, "invoice"),
        (CREDIT_NOTE, "amount"),
        (REFUND_CREATED, "status"),
        (REFUND_CREATED, "currency"),
        (REFUND_CREATED, "created"),
    ],
)
@both_layouts
def test_missing_required_field_is_a_mapping_error(
    objects: dict[str, dict[str, Any]], event_type: str, field: str, legacy: bool
) -> None:
    obj = {key: value for key, value in objects[event_type].items() if key != field}

    with pytest.raises(MappingError, match=rf"^{event_type}: data\.object\.{field} is missing$"):
        map_dict(stripe_event(event_type, obj, legacy=legacy))


def test_missing_refunded_amount_names_its_path(objects: dict[str, dict[str, Any]]) -> None:
    note = copy.deepcopy(objects[CREDIT_NOTE])
    del note["refunds"][0]["amount_refunded"]

    with pytest.raises(MappingError, match=r"data\.object\.refunds\[0\]\.amount_refunded is missing"):
        map_dict(stripe_event(CREDIT_NOTE, note))


def test_garbled_tax_entry_names_its_path(objects: dict[str, dict[str, Any]]) -> None:
    note = to_legacy_layout(CREDIT_NOTE, objects[CREDIT_NOTE])
    note["tax_amounts"] = "19%"

    with pytest.raises(MappingError, match=r"data\.object\.tax_amounts is not a list"):
        map_dict(build_event(CREDIT_NOTE, note, api_version=LEGACY_API_VERSION))


def test_non_decimal_percentage_is_a_mapping_error(objects: dict[str, dict[str, Any]]) -> None:
    note = copy.deepcopy(objects[CREDIT_NOTE])
    note["total_taxes"][0]["tax_rate_details"]["tax_rate"] = {"id": "txr_1", "percentage": "nineteen"}

    with pytest.raises(MappingError) as caught:
        map_dict(build_event(CREDIT_NOTE, note, api_version=LATEST_API_VERSION))

    assert (
        caught.value.reason
        == "credit_note.created: payload does not fit InvoiceTax: percentage: Input should be a valid decimal"
    )


def test_unknown_reason_is_a_mapping_error(objects: dict[str, dict[str, Any]]) -> None:
    refund = objects[REFUND_CREATED] | {"reason": "changed_mind"}

    with pytest.raises(MappingError, match="reason"):
        map_dict(stripe_event(REFUND_CREATED, refund))
