"""Contract: the notifier accepts exactly what the gateway's (and instagram-sync's) schemas describe.

Payloads are generated from the committed JSON Schemas (`tests/contract/schemas/<topic>.json`), checked against
the schema itself, then fed through what the consumer does with a record: the router's parse (ce_type → model),
plan the mail, render it in both languages. Every valid payload must get that far; a payload that breaks the schema
(a required field missing, a wrong type) must be refused as a poison message, not retried or half-processed.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intplat_common import ConsumedEvent, PoisonMessage
from intplat_common.events import CloudEvent
from notifier.consumers import router
from notifier.consumers.billing import PlannedMail, plan_checkout, plan_invoice, plan_payment_failed
from notifier.consumers.documents import plan_document_mail
from notifier.consumers.instagram import plan_reconnect
from notifier.rendering import LOCALES, Renderer

SCHEMAS = Path(__file__).resolve().parents[3] / "tests" / "contract" / "schemas"
TOPICS = [
    "billing.checkout.completed.v1",
    "billing.invoice.paid.v1",
    "billing.payment.failed.v1",
    "bookkeeping.document.synced.v1",
    "instagram.connection.expiring.v1",
]
JsonStrategy = st.SearchStrategy[Any]


def load(topic: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{topic}.json").read_text(encoding="utf-8"))
    return schema


def instances(node: dict[str, Any], root: dict[str, Any]) -> JsonStrategy:
    """A hypothesis strategy for the JSON values `node` allows (the keywords our contracts use)."""
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        return st.deferred(lambda: instances(root["$defs"][name], root))
    if "anyOf" in node:
        return st.one_of([instances(option, root) for option in node["anyOf"]])
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if isinstance(kind, list):
        return st.one_of([instances({**node, "type": k}, root) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(min_value=node.get("minimum", -(2**40)), max_value=node.get("maximum", 2**40))
    if kind == "string":
        return strings(node)
    if kind == "array":
        return st.lists(instances(node.get("items", {}), root), max_size=3)
    if kind == "object" or "properties" in node:
        properties = node.get("properties", {})
        if not properties:
            extra = node.get("additionalProperties", True)
            values = instances(extra, root) if isinstance(extra, dict) else st.none() | st.integers() | st.text()
            return st.dictionaries(st.text(max_size=8), values, max_size=3)
        required = set(node.get("required", ()))
        return st.fixed_dictionaries(
            {k: instances(v, root) for k, v in properties.items() if k in required},
            optional={k: instances(v, root) for k, v in properties.items() if k not in required},
        )
    return st.none() | st.booleans() | st.integers() | st.text(max_size=10)


def strings(node: dict[str, Any]) -> JsonStrategy:
    fmt = node.get("format")
    if fmt == "date-time":
        moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
        return moments.map(lambda m: m.isoformat())
    if fmt == "date":
        return st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)).map(date.isoformat)
    if "pattern" in node:
        return st.from_regex(node["pattern"], fullmatch=True)
    return st.text(max_size=30)


def valid_instances(topic: str) -> JsonStrategy:
    """What the schema allows and the model accepts: a synced document's gross is also its net plus its tax (a rule
    across fields, which the schema cannot state)."""
    schema = load(topic)
    generated = instances(schema, schema)
    if topic != "bookkeeping.document.synced.v1":
        return generated
    return generated.map(lambda d: {**d, "total_gross_amount": d["total_net_amount"] + d["total_tax_amount"]})


def consumed(topic: str, data: dict[str, Any]) -> ConsumedEvent:
    schema = load(topic)
    event = CloudEvent(
        id="evt_contract",
        source="/contract",
        type=schema["x-event-type"],
        time=datetime(2030, 1, 1, tzinfo=UTC),
        data=data,
    )
    return ConsumedEvent(event=event, topic=topic, partition=0, offset=0, key=None, headers={})


def plan(payload: Any) -> PlannedMail | str:
    for planner in (plan_checkout, plan_invoice, plan_payment_failed, plan_document_mail):
        try:
            return planner(payload)
        except AttributeError:
            continue
    return plan_reconnect(payload, "https://app.example.com/connect", datetime(2030, 1, 1, tzinfo=UTC))


RENDERER = Renderer()
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def test_the_notifier_reads_the_five_topics() -> None:
    assert set(router.topics) == set(TOPICS)
    for topic in TOPICS:
        assert load(topic)["x-event-type"] in {model.EVENT_TYPE for model in router.models}


@pytest.mark.parametrize("topic", TOPICS)
def test_every_schema_valid_payload_is_accepted_and_renders(topic: str) -> None:
    schema = load(topic)
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)

    @FUZZ
    @given(valid_instances(topic))
    def check(data: dict[str, Any]) -> None:
        assert validator.is_valid(data), "the generator must only produce what the contract allows"
        payload = router.parse(consumed(topic, data))
        planned = plan(payload)
        if isinstance(planned, str):
            return
        for locale in LOCALES:
            email = RENDERER.render(planned.template, locale, {**planned.model, "name": None, "portal_url": None})
            assert email.subject and email.html and email.text

    check()


@pytest.mark.parametrize("topic", TOPICS)
def test_payloads_outside_the_schema_are_poison(topic: str) -> None:
    schema = load(topic)
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)

    @FUZZ
    @given(instances(schema, schema), st.data())
    def check(data: dict[str, Any], draw: st.DataObject) -> None:
        field = draw.draw(st.sampled_from(sorted(schema["required"])))
        broken = dict(data)
        if draw.draw(st.booleans()):
            del broken[field]
        else:
            broken[field] = {"not": ["what", "the", "schema", "says"]}
        assert not validator.is_valid(broken)
        with pytest.raises(PoisonMessage):
            router.parse(consumed(topic, broken))

    check()


def test_an_unknown_event_type_is_poison() -> None:
    event = CloudEvent(id="e", source="/x", type="com.intplat.billing.refund.v1", time=datetime.now(UTC), data={})
    with pytest.raises(PoisonMessage, match="unexpected event type"):
        router.parse(ConsumedEvent(event=event, topic="billing.refund.v1", partition=0, offset=0, key=None, headers={}))
