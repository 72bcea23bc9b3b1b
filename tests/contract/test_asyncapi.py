"""The AsyncAPI document (docs/asyncapi.json): current, valid AsyncAPI 3.0, and complete: every registered topic
with its contract and producer, every router's topics as receive operations, every consumer group's DLQ."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import jsonschema_rs
import pytest
from aiokafka import ConsumerRecord
from intplat_devstack.asyncapi_schema import ensure_asyncapi_schema

from intplat_common import ConsumedEvent
from intplat_common.consumer._dlq import dead_letter_headers
from intplat_common.events import (
    TOPICS,
    Address,
    CustomerDetails,
    EventRouter,
    InstagramConnectionExpiring,
    InvoicePaid,
    asyncapi_document,
    dlq_topic,
    render_schema,
    topic_schema,
)
from intplat_common.service import registered_routers

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "asyncapi.json"


def probe_router() -> EventRouter[None]:
    """A consumer as a new service declares one: two handlers, its own consumer group."""
    router: EventRouter[None] = EventRouter("probe-service", group="probe")

    @router.on(InvoicePaid)
    async def on_paid(conn: asyncpg.Connection, consumed: ConsumedEvent, event: InvoicePaid, context: None) -> None:
        pass

    @router.on(InstagramConnectionExpiring)
    async def on_expiring(
        conn: asyncpg.Connection, consumed: ConsumedEvent, event: InstagramConnectionExpiring, context: None
    ) -> None:
        pass

    return router


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document([*registered_routers(), probe_router()])


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def test_the_committed_document_is_current() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render_schema(asyncapi_document(registered_routers())), (
        "run `uv run python scripts/contracts.py generate` and commit docs/asyncapi.json"
    )


def test_the_documents_are_valid_asyncapi_3(document: dict[str, Any]) -> None:
    validator = jsonschema_rs.validator_for(json.loads(ensure_asyncapi_schema().read_text(encoding="utf-8")))
    committed = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    for checked in (committed, document):
        assert [error.message for error in validator.iter_errors(checked)] == []
    broken = json.loads(json.dumps(committed))
    next(iter(broken["operations"].values()))["action"] = "publish"  # the AsyncAPI 2 verb
    assert not validator.is_valid(broken)


def test_the_required_3_0_structure_and_every_reference_resolves(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert all(server["protocol"] == "kafka" for server in document["servers"].values())
    for ref in refs(document):
        resolve(document, ref)
    for operation_id, operation in document["operations"].items():
        assert operation["action"] in ("send", "receive"), operation_id
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), "an operation's messages are its channel's"


def test_every_registered_topic_is_a_channel_with_its_contract_and_producer(document: dict[str, Any]) -> None:
    dead_letters = {"notifier.dlq", "lexoffice-bridge.dlq", "instagram-sync.dlq", "probe.dlq"}
    assert set(TOPICS) | dead_letters == set(document["channels"])
    for name, spec in TOPICS.items():
        assert spec.model is not None
        channel = document["channels"][name]
        assert channel["address"] == name
        assert channel["bindings"]["kafka"]["partitions"] == spec.partitions
        (message_ref,) = (ref["$ref"] for ref in channel["messages"].values())
        message = resolve(document, message_ref)
        assert message["headers"]["properties"]["ce_type"]["const"] == spec.model.EVENT_TYPE
        assert message["bindings"]["kafka"]["key"]["description"] == spec.key_description
        payload = resolve(document, message["payload"]["$ref"])
        contract = topic_schema(name)
        assert payload["required"] == contract["required"]
        assert payload["properties"].keys() == contract["properties"].keys()
        assert payload["x-event-type"] == spec.model.EVENT_TYPE
        send = document["operations"][f"{spec.producer}.send.{name}"]
        assert (send["action"], send["channel"]["$ref"]) == ("send", f"#/channels/{name}")
        assert [op["channel"]["$ref"] for op in document["operations"].values() if op["action"] == "send"].count(
            f"#/channels/{name}"
        ) == 1, "one producer per topic"


def test_payload_schemas_accept_what_producers_write(document: dict[str, Any]) -> None:
    """The `$defs` of each contract moved to components/schemas: payloads still validate through the refs."""
    sample = InstagramConnectionExpiring(
        account_id="17841400000000000",
        username="ada",
        expires_at=datetime(2026, 3, 1, tzinfo=UTC),
        reason="token_expiring",
    ).model_dump(mode="json")
    validator = jsonschema_rs.validator_for({"$ref": "#/components/schemas/InstagramConnectionExpiring", **document})
    assert validator.is_valid(sample)
    assert not validator.is_valid({**sample, "expires_at": 3})
    invoice = InvoicePaid(
        stripe_event_id="evt_1",
        stripe_api_version="2025-03-31.basil",
        stripe_created=datetime(2026, 3, 1, tzinfo=UTC),
        livemode=False,
        invoice_id="in_1",
        status="paid",
        customer_id="cus_1",
        customer=CustomerDetails(email="ada@example.com", address=Address(country="DE")),
        currency="eur",
        amount_due=1190,
        amount_paid=1190,
        amount_remaining=0,
        subtotal=1000,
        total=1190,
        total_tax=190,
    ).model_dump(mode="json")
    validator = jsonschema_rs.validator_for({"$ref": "#/components/schemas/InvoicePaid", **document})
    assert validator.is_valid(invoice)
    # Address is reached through CustomerDetails' ref: a wrong type two refs down is still found.
    assert not validator.is_valid(invoice | {"customer": {"address": {"country": 49}}})


def test_routers_give_receive_operations_and_their_dead_letter_topic(document: dict[str, Any]) -> None:
    operations = document["operations"]
    receive = {op_id for op_id, op in operations.items() if op["action"] == "receive"}
    assert receive == {
        "instagram-sync.receive.billing.subscription.updated.v1",
        "instagram-sync.receive.instagram.sync.requested.v1",
        "lexoffice-bridge.receive.billing.checkout.completed.v1",
        "lexoffice-bridge.receive.billing.invoice.paid.v1",
        "lexoffice-bridge.receive.billing.refund.succeeded.v1",
        "notifier.receive.billing.checkout.completed.v1",
        "notifier.receive.billing.invoice.paid.v1",
        "notifier.receive.billing.payment.failed.v1",
        "notifier.receive.bookkeeping.document.synced.v1",
        "notifier.receive.instagram.connection.expiring.v1",
        "probe-service.receive.billing.invoice.paid.v1",
        "probe-service.receive.instagram.connection.expiring.v1",
    }
    assert operations["probe-service.receive.billing.invoice.paid.v1"]["bindings"]["kafka"]["groupId"]["enum"] == [
        "probe"
    ]
    assert operations["probe-service.send.probe.dlq"]["channel"] == {"$ref": f"#/channels/{dlq_topic('probe')}"}
    dead_letter = resolve(document, "#/components/messages/DeadLetter")
    assert {"dlq_reason", "dlq_attempts", "dlq_original_topic"} <= set(dead_letter["headers"]["required"])


def test_the_dead_letter_headers_are_those_the_consumer_writes() -> None:
    record = ConsumerRecord("t.v1", 0, 7, 0, 0, b"k", b"{}", None, 1, 2, [("ce_id", b"e")])
    written = [name for name, _ in dead_letter_headers(record, "g", "poison: x", attempts=1)]
    documented = resolve(asyncapi_document([]), "#/components/messages/DeadLetter")["headers"]["properties"]
    assert {name for name in written if name.startswith("dlq_")} == {name for name in documented if "dlq_" in name}


def test_one_router_per_service() -> None:
    with pytest.raises(ValueError, match="two event routers are registered for probe-service"):
        asyncapi_document([probe_router(), probe_router()])


def test_the_bridge_registers_its_router_through_the_entry_point() -> None:
    (bridge,) = (router for router in registered_routers() if router.service == "lexoffice-bridge")
    assert bridge.group == "lexoffice-bridge"
    assert set(bridge.topics) == {
        "billing.checkout.completed.v1",
        "billing.invoice.paid.v1",
        "billing.refund.succeeded.v1",
    }


def test_the_notifier_registers_its_router_through_the_entry_point() -> None:
    (notifier,) = (router for router in registered_routers() if router.service == "notifier")
    assert notifier.group == "notifier"
    assert set(notifier.topics) == {
        "billing.checkout.completed.v1",
        "billing.invoice.paid.v1",
        "billing.payment.failed.v1",
        "bookkeeping.document.synced.v1",
        "instagram.connection.expiring.v1",
    }
