"""Event contracts: committed JSON Schemas match the models, changes stay backward-compatible,
and the compatibility checker detects each kind of breaking change."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from intplat_common.events import (
    DECIMAL_PATTERN,
    EVENT_MODELS,
    TOPICS,
    BookkeepingDocumentSynced,
    CheckoutCompleted,
    CustomerDetails,
    EventModel,
    EventPart,
    InstagramConnectionExpiring,
    InstagramPostPublished,
    InstagramSyncRequested,
    InvoiceLine,
    InvoicePaid,
    InvoiceTax,
    PaymentFailed,
    RefundSucceeded,
    StripeEventEnvelope,
    SubscriptionItem,
    SubscriptionUpdated,
    breaking_changes,
    dlq_topic,
    from_kafka_headers,
    parse_payload,
    render_schema,
    to_cloud_event,
    to_kafka_headers,
    to_kafka_value,
    topic_schema,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
CONTRACT_TOPICS = sorted(name for name, spec in TOPICS.items() if spec.model is not None)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STRIPE = {
    "stripe_event_id": "evt_1",
    "stripe_api_version": "2025-03-31.basil",
    "stripe_created": T0,
    "livemode": False,
}


# --- committed schemas
# --------------------------------------------------------------------------------------


WRITTEN_BY = {
    "stripe": "stripe-gateway",
    "billing": "stripe-gateway",
    "bookkeeping": "lexoffice-bridge",
    "instagram": "instagram-sync",
}


INTERFACES_TOPICS = {
    "stripe.events.v1",
    "billing.checkout.completed.v1",
    "billing.invoice.paid.v1",
    "billing.subscription.updated.v1",
    "billing.payment.failed.v1",
    "billing.refund.succeeded.v1",
    "bookkeeping.document.synced.v1",
    "instagram.sync.requested.v1",
    "instagram.connection.expiring.v1",
}
# Topics added after INTERFACES.md fixed the list (each documented as new in its service's doc).
NEW_SINCE_INTERFACES = {"instagram.post.published.v1"}


def test_topic_table_matches_interfaces() -> None:
    assert set(TOPICS) == INTERFACES_TOPICS | NEW_SINCE_INTERFACES
    for name, spec in TOPICS.items():
        assert spec.name == name
        assert spec.model is not None
        assert name == spec.model.TOPIC
        expected_type = f"com.intplat.{name}".replace("stripe.events", "stripe.event")
        assert expected_type == spec.model.EVENT_TYPE
        assert spec.partitions == (6 if name.startswith(("billing.", "stripe.")) else 3)
        assert spec.key_description
        assert spec.producer == WRITTEN_BY[name.split(".")[0]]
    assert len(EVENT_MODELS) == len(TOPICS)
    assert dlq_topic("lexoffice-bridge") == "lexoffice-bridge.dlq"


def test_schema_files_are_exactly_the_topics() -> None:
    assert sorted(p.stem for p in SCHEMA_DIR.glob("*.json")) == CONTRACT_TOPICS


@pytest.mark.parametrize("topic", CONTRACT_TOPICS)
def test_committed_schema_is_current(topic: str) -> None:
    committed = (SCHEMA_DIR / f"{topic}.json").read_text(encoding="utf-8")
    assert committed == render_schema(topic_schema(topic)), (
        f"{topic}: model changed; run `uv run python scripts/contracts.py generate` and commit"
    )


@pytest.mark.parametrize("topic", CONTRACT_TOPICS)
def test_no_breaking_change_vs_committed_file(topic: str) -> None:
    committed = json.loads((SCHEMA_DIR / f"{topic}.json").read_text(encoding="utf-8"))
    assert breaking_changes(committed, topic_schema(topic), topic=topic) == []


def test_contracts_check_against_git_head() -> None:
    """The gate CI runs: up-to-date files and no breaking change versus the schemas at HEAD."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "contracts.py"), "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _types_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        declared = node.get("type")
        if isinstance(declared, str):
            yield declared
        elif isinstance(declared, list):
            yield from declared
        for value in node.values():
            yield from _types_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _types_in(value)


@pytest.mark.parametrize("topic", CONTRACT_TOPICS)
def test_contracts_have_no_floats(topic: str) -> None:
    """Money is int minor units and percentages are decimal strings: no JSON `number` anywhere."""
    assert "number" not in set(_types_in(topic_schema(topic)))


# --- models: samples through the Kafka codec
# ----------------------------------------------------------------

CUSTOMER = CustomerDetails(email="ada@example.com", name="Ada", locale="de")
SAMPLES: list[EventModel] = [
    StripeEventEnvelope.model_validate(
        {
            "id": "evt_1",
            "object": "event",
            "type": "invoice.paid",
            "created": 1772366400,
            "api_version": "2025-03-31.basil",
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": {"id": "in_1", "object": "invoice", "customer": "cus_1"}},
        }
    ),
    CheckoutCompleted(
        **STRIPE,
        checkout_session_id="cs_1",
        mode="payment",
        status="complete",
        payment_status="paid",
        customer_id="cus_1",
        customer=CUSTOMER,
        currency="eur",
        amount_subtotal=1000,
        amount_total=1190,
        amount_tax=190,
        metadata={"order": "42"},
    ),
    InvoicePaid(
        **STRIPE,
        invoice_id="in_1",
        invoice_number="ABC-0001",
        status="paid",
        customer_id="cus_1",
        customer=CUSTOMER,
        billing_reason="subscription_cycle",
        currency="eur",
        amount_due=1190,
        amount_paid=1190,
        amount_remaining=0,
        subtotal=1000,
        total=1190,
        total_tax=190,
        taxes=(InvoiceTax(amount=190, taxable_amount=1000, percentage=Decimal("19")),),
        hosted_invoice_url="https://invoice.stripe.com/i/x",
        invoice_pdf_url="https://pay.stripe.com/invoice/x/pdf",
        subscription_id="sub_1",
        lines=(InvoiceLine(id="il_1", amount=1000, currency="eur", price_id="price_1", period_start=T0),),
    ),
    SubscriptionUpdated(
        **STRIPE,
        subscription_id="sub_1",
        customer_id="cus_1",
        status="active",
        previous_status="past_due",
        items=(SubscriptionItem(id="si_1", price_id="price_1", unit_amount=1000, recurring_interval="month"),),
        currency="eur",
        previous_attributes={"status": "past_due"},
    ),
    PaymentFailed(
        **STRIPE,
        payment_intent_id="pi_1",
        customer_id="cus_1",
        amount=1190,
        currency="eur",
        status="requires_payment_method",
        failure_type="card_error",
        failure_code="card_declined",
        decline_code="insufficient_funds",
        failure_message="Your card has insufficient funds.",
    ),
    BookkeepingDocumentSynced(
        source_type="stripe_invoice",
        source_id="in_1",
        stripe_customer_id="cus_1",
        lexoffice_document_id="e9066f04-8cc7-4616-93f8-ac9ecc8479c8",
        document_type="voucher",
        voucher_number="ABC-0001",
        voucher_date=date(2026, 3, 1),
        currency="eur",
        total_gross_amount=1190,
        total_net_amount=1000,
        total_tax_amount=190,
        synced_at=T0,
    ),
    InstagramSyncRequested(
        account_id="17841400000000000",
        tier="hourly",
        window_start=datetime(2026, 3, 1, 11, tzinfo=UTC),
        window_end=T0,
        requested_at=T0,
    ),
    InstagramConnectionExpiring(
        account_id="17841400000000000",
        username="ada",
        owner_email="ada@example.com",
        expires_at=T0,
        reason="token_expiring",
    ),
    RefundSucceeded(
        **STRIPE,
        source="credit_note",
        customer_id="cus_1",
        currency="eur",
        amount=1190,
        created_at=T0,
        reason="order_change",
        invoice_id="in_1",
        credit_note_id="cn_1",
        credit_note_number="ABC-0001-CN-01",
        credit_note_refund_ids=("re_1",),
        refunded_amount=1190,
        subtotal=1000,
        taxes=(InvoiceTax(amount=190, taxable_amount=1000, percentage=Decimal("19")),),
    ),
    InstagramPostPublished(
        account_id="17841400000000000",
        post_id="6f1c2a4e-0000-4000-8000-000000000001",
        status="published",
        media_type="IMAGE",
        scheduled_at=T0,
        media_id="17900000000000001",
        permalink="https://www.instagram.com/p/abc/",
        finished_at=T0,
    ),
]


def test_samples_cover_every_topic() -> None:
    assert sorted(sample.TOPIC for sample in SAMPLES) == CONTRACT_TOPICS


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.TOPIC)
def test_sample_round_trips_through_kafka(sample: EventModel) -> None:
    event = to_cloud_event(sample, id="evt_1", source="/stripe-gateway", subject="in_1", time=T0)
    decoded = from_kafka_headers(to_kafka_headers(event), to_kafka_value(event))
    assert decoded == event
    assert parse_payload(decoded, type(sample)) == sample
    assert sample.partition_key()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.TOPIC)
def test_sample_keys_are_in_the_schema(sample: EventModel) -> None:
    """Every serialized field is declared by the contract (extras only where the schema allows
    them)."""
    schema = topic_schema(sample.TOPIC)
    data = sample.model_dump(mode="json")
    assert set(schema["required"]) <= set(data)
    if schema.get("additionalProperties") is not True:
        assert set(data) <= set(schema["properties"])


def test_consumers_ignore_unknown_fields() -> None:
    data = SAMPLES[2].model_dump(mode="json") | {"added_later": {"x": 1}}
    assert InvoicePaid.model_validate(data) == SAMPLES[2]


def test_stripe_envelope_keeps_the_raw_event() -> None:
    raw = SAMPLES[0].model_dump(mode="json")
    assert raw["pending_webhooks"] == 1
    assert raw["request"] == {"id": None, "idempotency_key": None}
    assert SAMPLES[0].partition_key() == "cus_1"


def test_money_is_never_a_float() -> None:
    data = SAMPLES[2].model_dump(mode="json") | {"total": 1190.0}
    with pytest.raises(ValidationError):
        InvoicePaid.model_validate(data)


def test_parse_payload_rejects_another_type() -> None:
    event = to_cloud_event(SAMPLES[2], id="evt_1", source="/stripe-gateway", time=T0)
    with pytest.raises(ValueError, match="is not"):
        parse_payload(event, PaymentFailed)


def test_model_invariants() -> None:
    with pytest.raises(ValidationError, match="total_gross_amount"):
        BookkeepingDocumentSynced.model_validate(SAMPLES[5].model_dump(mode="json") | {"total_tax_amount": 1})
    with pytest.raises(ValidationError, match="window_end"):
        InstagramSyncRequested.model_validate(
            SAMPLES[6].model_dump(mode="json") | {"window_end": "2026-03-01T10:00:00Z"}
        )
    with pytest.raises(ValidationError):  # naive datetimes are ambiguous
        InstagramConnectionExpiring.model_validate(
            SAMPLES[7].model_dump(mode="json") | {"expires_at": "2026-03-01T10:00:00"}
        )
    with pytest.raises(ValidationError, match="credit_note_id and invoice_id"):
        RefundSucceeded.model_validate(SAMPLES[8].model_dump(mode="json") | {"invoice_id": None})
    with pytest.raises(ValidationError, match="refund_id"):
        RefundSucceeded.model_validate(SAMPLES[8].model_dump(mode="json") | {"source": "refund"})


# --- breaking_changes
# ---------------------------------------------------------------------------------------


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), **extra}


STR = {"type": "string"}
INT = {"type": "integer"}
NULLABLE_STR = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
BASE = obj({"id": STR, "amount": INT, "note": NULLABLE_STR}, ("id", "amount"))


def changes(new: dict[str, Any], old: dict[str, Any] = BASE) -> list[str]:
    return breaking_changes(old, new)


def test_identical_schema_is_compatible() -> None:
    assert changes(BASE) == []


def test_optional_property_added_is_compatible() -> None:
    assert changes(obj({**BASE["properties"], "extra": NULLABLE_STR}, ("id", "amount"))) == []


def test_required_made_optional_and_docs_changed_are_compatible() -> None:
    assert changes(obj({**BASE["properties"], "id": {**STR, "description": "new"}}, ("amount",))) == []


def test_enum_value_added_is_compatible() -> None:
    old = obj({"s": {"enum": ["a", "b"], "type": "string"}})
    assert changes(obj({"s": {"enum": ["a", "b", "c"], "type": "string"}}), old) == []


def test_property_removed() -> None:
    assert changes(obj({"id": STR, "amount": INT}, ("id", "amount"))) == ["$.note: property removed"]


def test_type_changed() -> None:
    assert changes(obj({**BASE["properties"], "amount": STR}, ("id", "amount"))) == [
        "$.amount: type changed from integer to string"
    ]


def test_type_narrowed() -> None:
    assert changes(obj({**BASE["properties"], "note": STR}, ("id", "amount"))) == [
        "$.note: type changed from null|string to string"
    ]


def test_type_widened_to_nullable() -> None:
    assert changes(obj({**BASE["properties"], "amount": {"type": ["integer", "null"]}}, ("id", "amount"))) == [
        "$.amount: type changed from integer to integer|null"
    ]


def test_optional_made_required() -> None:
    assert changes(obj(BASE["properties"], ("id", "amount", "note"))) == ["$.note: optional property made required"]


def test_new_required_property() -> None:
    assert changes(obj({**BASE["properties"], "currency": STR}, ("id", "amount", "currency"))) == [
        "$.currency: new required property added"
    ]


def test_enum_values_removed() -> None:
    old = obj({"s": {"anyOf": [{"enum": ["a", "b", "c"], "type": "string"}, {"type": "null"}]}})
    new = obj({"s": {"anyOf": [{"enum": ["a"], "type": "string"}, {"type": "null"}]}})
    assert changes(new, old) == ['$.s: enum values removed: "b", "c"']


def test_const_changed_and_free_string_restricted() -> None:
    old = obj({"k": {"const": "x", "type": "string"}, "free": STR})
    new = obj({"k": {"const": "y", "type": "string"}, "free": {"enum": ["a"], "type": "string"}})
    assert changes(new, old) == [
        '$.k: enum values removed: "x"',
        '$.free: values restricted to "a"',
    ]


def test_format_pattern_and_bounds_tightened() -> None:
    old = obj(
        {
            "t": {"type": "string", "format": "date-time"},
            "c": STR,
            "n": {"type": "integer", "maximum": 10},
        }
    )
    new = obj(
        {
            "t": {"type": "string", "format": "date"},
            "c": {"type": "string", "pattern": "^[a-z]{3}$"},
            "n": {"type": "integer", "maximum": 5},
        }
    )
    assert changes(new, old) == [
        "$.t: format changed from 'date-time' to 'date'",
        "$.c: pattern changed from none to '^[a-z]{3}$'",
        "$.n: maximum tightened to 5",
    ]


def test_additional_properties_forbidden() -> None:
    assert changes({**BASE, "additionalProperties": False}) == ["$: additional properties no longer allowed"]


def test_map_value_type_changed() -> None:
    old = obj({"m": {"type": "object", "additionalProperties": STR}})
    new = obj({"m": {"type": "object", "additionalProperties": INT}})
    assert changes(new, old) == ["$.m.*: type changed from string to integer"]


def _with_defs(item: dict[str, Any]) -> dict[str, Any]:
    return {
        **obj(
            {
                "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                "main": {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]},
            }
        ),
        "$defs": {"Item": {**item, "title": "Item"}},
    }


def test_changes_inside_defs_are_found_through_refs() -> None:
    old = _with_defs(obj({"price_id": STR, "quantity": INT}, ("price_id",)))
    new = _with_defs(obj({"price_id": STR}, ("price_id", "unit_amount")))
    assert changes(new, old) == [
        "$.items[].quantity: property removed",
        "$.items[].unit_amount: new required property added",
        "$.main.quantity: property removed",
        "$.main.unit_amount: new required property added",
    ]


def test_ref_and_inline_schema_compare_by_content() -> None:
    inline = obj({"items": {"type": "array", "items": obj({"price_id": STR}, ("price_id",))}})
    referenced = {
        **obj({"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}}),
        "$defs": {"Item": obj({"price_id": STR}, ("price_id",))},
    }
    assert changes(referenced, inline) == []
    assert changes(inline, referenced) == []


def test_union_member_removed() -> None:
    a = obj({"a": STR}, title="A")
    b = obj({"b": STR}, title="B")
    old = {
        **obj({"x": {"anyOf": [{"$ref": "#/$defs/A"}, {"$ref": "#/$defs/B"}]}}),
        "$defs": {"A": a, "B": b},
    }
    new = {**obj({"x": {"anyOf": [{"$ref": "#/$defs/A"}]}}), "$defs": {"A": a}}
    assert changes(new, old) == ["$.x: union member 'B' removed"]


def test_recursive_schema_terminates() -> None:
    def tree(child_type: dict[str, Any]) -> dict[str, Any]:
        node = obj(
            {
                "value": child_type,
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
            },
            title="Node",
        )
        return {"$ref": "#/$defs/Node", "$defs": {"Node": node}}

    assert changes(tree(STR), tree(STR)) == []
    assert changes(tree(INT), tree(STR)) == ["$.value: type changed from string to integer"]


def test_event_type_changed() -> None:
    old = {**BASE, "x-event-type": "com.intplat.a.v1"}
    assert changes({**BASE, "x-event-type": "com.intplat.b.v1"}, old) == [
        "$: CloudEvents type changed from 'com.intplat.a.v1' to 'com.intplat.b.v1'"
    ]


def test_real_contract_detects_a_removed_nested_field() -> None:
    old = topic_schema("billing.invoice.paid.v1")
    new = json.loads(json.dumps(old))
    del new["$defs"]["InvoiceLine"]["properties"]["price_id"]
    new["properties"]["status"]["enum"].remove("void")
    assert breaking_changes(old, new) == [
        '$.status: enum values removed: "void"',
        "$.lines[].price_id: property removed",
    ]


# --- tax percentages: decimal strings with a pattern (docs/stripe-gateway.md, "Tax percentages")
# ------------------------------------------------------------------


class PercentageBeforeThePattern(EventPart):
    """`InvoiceTax.percentage` as it was before the pattern: a plain Decimal."""

    percentage: Decimal | None = None


NOT_DECIMALS = ["abc", "", " ", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "19%", "1,5", "0x13", "1/2"]
DECIMAL = re.compile(DECIMAL_PATTERN)


@pytest.mark.parametrize("model", [PercentageBeforeThePattern, InvoiceTax])
@pytest.mark.parametrize("text", NOT_DECIMALS)
def test_the_model_has_always_refused_non_decimals(model: type[EventPart], text: str) -> None:
    with pytest.raises(ValidationError, match="percentage"):
        model.model_validate({"amount": 1, "percentage": text})


@given(st.decimals(min_value=0, max_value=100, places=4))
def test_stripe_percentages_were_and_are_written_as_pattern_matches(percentage: Decimal) -> None:
    """Stripe sends a tax rate's percentage as a JSON number (0 to 100, at most four decimals): the records written
    before the pattern matched it, and the records written now are the same text."""
    stripe_value = float(percentage)
    before = json.loads(PercentageBeforeThePattern(percentage=stripe_value).model_dump_json())["percentage"]
    now = json.loads(InvoiceTax(amount=1, percentage=stripe_value).model_dump_json())["percentage"]
    assert before == now
    assert DECIMAL.fullmatch(now)


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_every_accepted_percentage_is_written_as_a_pattern_match(percentage: Decimal) -> None:
    tax = InvoiceTax(amount=1, percentage=percentage)
    written = json.loads(tax.model_dump_json())["percentage"]
    assert DECIMAL.fullmatch(written), written
    assert InvoiceTax.model_validate_json(tax.model_dump_json()) == tax


@given(st.from_regex(DECIMAL_PATTERN, fullmatch=True))
def test_every_pattern_match_is_accepted(text: str) -> None:
    assert InvoiceTax.model_validate({"amount": 1, "percentage": text}).percentage == Decimal(text)


@pytest.mark.parametrize("topic", ["billing.invoice.paid.v1", "billing.refund.succeeded.v1"])
def test_percentages_carry_the_decimal_pattern(topic: str) -> None:
    percentage = topic_schema(topic)["$defs"]["InvoiceTax"]["properties"]["percentage"]
    assert {"type": "string", "pattern": DECIMAL_PATTERN} in percentage["anyOf"]


def _without_percentage_pattern(schema: dict[str, Any]) -> dict[str, Any]:
    old: dict[str, Any] = json.loads(json.dumps(schema))
    for option in old["$defs"]["InvoiceTax"]["properties"]["percentage"]["anyOf"]:
        option.pop("pattern", None)
    return old


def test_adding_the_decimal_pattern_to_invoice_percentages_is_a_documented_exception() -> None:
    new = topic_schema("billing.invoice.paid.v1")
    old = _without_percentage_pattern(new)
    added = f"pattern changed from none to {DECIMAL_PATTERN!r}"
    assert sorted(breaking_changes(old, new)) == [
        f"$.lines[].taxes[].percentage: {added}",
        f"$.taxes[].percentage: {added}",
    ]
    assert breaking_changes(old, new, topic="billing.invoice.paid.v1") == []


def test_the_exception_covers_nothing_else() -> None:
    refund = topic_schema("billing.refund.succeeded.v1")
    assert breaking_changes(_without_percentage_pattern(refund), refund, topic="billing.refund.succeeded.v1") == [
        f"$.taxes[].percentage: pattern changed from none to {DECIMAL_PATTERN!r}"
    ], "the refund topic started with the pattern: no exception needed, none granted"
    invoice = topic_schema("billing.invoice.paid.v1")
    other = json.loads(json.dumps(invoice))
    for option in other["$defs"]["InvoiceTax"]["properties"]["percentage"]["anyOf"]:
        if option["type"] == "string":
            option["pattern"] = "^[0-9]+$"
    assert sorted(breaking_changes(_without_percentage_pattern(invoice), other, topic="billing.invoice.paid.v1")) == [
        "$.lines[].taxes[].percentage: pattern changed from none to '^[0-9]+$'",
        "$.taxes[].percentage: pattern changed from none to '^[0-9]+$'",
    ]
