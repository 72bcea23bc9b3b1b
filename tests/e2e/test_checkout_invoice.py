"""A paid checkout without a Stripe invoice, end to end on real sockets, Kafka and PostgreSQL: a signed
`checkout.session.completed` webhook → stripe-gateway → `billing.checkout.completed.v1` → lexoffice-bridge → one
finalized invoice in the Lexoffice sandbox, its PDF stored → `bookkeeping.document.synced.v1` → the notifier → one
mail in the Postmark sandbox with that PDF attached."""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from intplat_devstack.samples import LATEST_API_VERSION, build_event, fetch_fixture_objects
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import ReservedPort, serve_in_background
from intplat_sandboxes.lexoffice import create_lexoffice_sandbox
from intplat_sandboxes.postmark import create_postmark_sandbox

from intplat_common import TopicConfig, ensure_topics
from intplat_common.events import TOPICS, BookkeepingDocumentSynced
from intplat_common.service import create_service_app
from lexoffice_bridge import document_files
from lexoffice_bridge.app import SERVICE as BRIDGE
from notifier.app import SERVICE as NOTIFIER
from notifier.settings import NotifierSettings
from stripe_gateway.app import SERVICE as GATEWAY

from .conftest import LEXOFFICE_KEY, bridge_settings, common_settings, deliver_twice, gateway_settings, synced_values

pytestmark = pytest.mark.integration

POSTMARK_TOKEN = "test-postmark-e2e"
SENDER = "billing@intplat.local"


async def test_a_signed_checkout_webhook_ends_as_one_invoice_mailed_with_its_pdf(
    databases: dict[str, str], kafka: Any, stripe_mock: str
) -> None:
    bootstrap = kafka.bootstrap_servers
    topics = [TopicConfig(spec.name, spec.partitions) for spec in TOPICS.values()]
    await ensure_topics(bootstrap, topics, replication_factor=1)
    suffix = uuid.uuid4().hex[:10]
    email = f"ada.{suffix}@example.com"
    objects = await fetch_fixture_objects(stripe_mock, customer_id=f"cus_{suffix}")
    session = objects["checkout.session.completed"] | {"id": f"cs_test_{suffix}", "invoice": None}
    session["customer_details"] = session["customer_details"] | {"email": email}
    webhook = json.dumps(build_event("checkout.session.completed", session, api_version=LATEST_API_VERSION)).encode()

    lexoffice = create_lexoffice_sandbox(api_keys=[LEXOFFICE_KEY], burst=100_000)
    postmark = create_postmark_sandbox(server_token=POSTMARK_TOKEN, senders=[SENDER])
    async with AsyncExitStack() as stack:
        reserved = stack.enter_context(ReservedPort())
        bridge_port = reserved.port
        lexoffice_url = await stack.enter_async_context(serve_in_background(lexoffice.app))
        postmark_url = await stack.enter_async_context(serve_in_background(postmark.app))
        gateway = gateway_settings(databases["gateway"], bootstrap, stripe_mock)
        bridge = bridge_settings(
            databases["bridge"],
            bootstrap,
            lexoffice_url,
            suffix,
            LEXOFFICE_BRIDGE_URL=f"http://127.0.0.1:{bridge_port}",
        )
        notifier = NotifierSettings(
            **common_settings(bootstrap),
            NOTIFIER_DATABASE_URL=databases["notifier"],
            NOTIFIER_CONSUMER_GROUP=f"notifier-{suffix}",
            NOTIFIER_TOPICS=BookkeepingDocumentSynced.TOPIC,
            NOTIFIER_FROM=SENDER,
            NOTIFIER_SENDER_POLL_SECONDS=0.2,
            POSTMARK_API_BASE=postmark_url,
            POSTMARK_SERVER_TOKEN=POSTMARK_TOKEN,
            STRIPE_API_BASE=stripe_mock,
            LEXOFFICE_BRIDGE_URL=f"http://127.0.0.1:{bridge_port}",
        )
        gateway_url = await stack.enter_async_context(serve_in_background(create_service_app(GATEWAY, gateway)))
        bridge_app = create_service_app(BRIDGE, bridge)
        await stack.enter_async_context(serve_in_background(bridge_app, sock=reserved.listener()))
        await stack.enter_async_context(serve_in_background(create_service_app(NOTIFIER, notifier)))

        await deliver_twice(gateway_url, webhook)

        async def mailed() -> list[Any] | None:
            mails = [m for m in postmark.messages if m.to == email]
            return mails or None

        (mail,) = await eventually(mailed, timeout=90, what="the invoice mail")
        invoices = [r for r in lexoffice.store.of_kind("invoice") if session["id"] in str(r.fields.get("remark"))]
        assert len(invoices) == 1 and invoices[0].status == "open"
        stored = await document_files.find(bridge_app.state.pool, invoices[0].id)
        assert stored is not None
        (attachment,) = mail.attachments
        assert (attachment.content_type, attachment.content) == ("application/pdf", stored.content)
        assert mail.tag == "checkout_invoice" and mail.subject.startswith("Ihre Rechnung vom")
        synced = await synced_values(bootstrap, session["id"])
        assert len(synced) == 1
        assert len([m for m in postmark.messages if m.to == email]) == 1
