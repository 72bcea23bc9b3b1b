"""A paid Stripe invoice, end to end on real sockets, Kafka and PostgreSQL: a signed `invoice.paid` webhook (delivered
twice) → stripe-gateway → `billing.invoice.paid.v1` → lexoffice-bridge → one salesinvoice voucher in the Lexoffice
sandbox with Stripe's invoice PDF attached → `bookkeeping.document.synced.v1`, once."""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import Request, Response
from intplat_devstack.samples import LATEST_API_VERSION, build_event, fetch_fixture_objects
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import create_sandbox_app, serve_in_background
from intplat_sandboxes.lexoffice import create_lexoffice_sandbox

from intplat_common import TopicConfig, ensure_topics
from intplat_common.events import TOPICS
from intplat_common.service import create_service_app
from lexoffice_bridge.app import SERVICE as BRIDGE
from stripe_gateway.app import SERVICE as GATEWAY

from .conftest import LEXOFFICE_KEY, bridge_settings, deliver_twice, gateway_settings, synced_values

pytestmark = pytest.mark.integration


def stripe_pdf_host(pdf: bytes) -> Any:
    """Stripe's invoice PDF host (`GET /invoice/{account}/{id}/pdf`, the path of `invoice_pdf` URLs)."""
    app = create_sandbox_app("stripe-files")

    async def invoice_pdf(request: Request) -> Response:
        return Response(pdf, media_type="application/pdf")

    app.api.add_api_route("/invoice/{account}/{invoice}/pdf", invoice_pdf, methods=["GET"])
    return app


async def test_a_signed_invoice_paid_webhook_ends_as_one_voucher_with_stripes_pdf(
    databases: dict[str, str], kafka: Any, stripe_mock: str
) -> None:
    bootstrap = kafka.bootstrap_servers
    await ensure_topics(bootstrap, [TopicConfig(s.name, s.partitions) for s in TOPICS.values()], replication_factor=1)
    suffix = uuid.uuid4().hex[:10]
    objects = await fetch_fixture_objects(stripe_mock, customer_id=f"cus_{suffix}")
    number = f"E2E-{suffix}"
    invoice = objects["invoice.paid"] | {
        "id": f"in_{suffix}",
        "number": number,
        "customer_email": f"ada.{suffix}@example.com",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_1Demo/test_in_{suffix}/pdf",
    }
    webhook = json.dumps(build_event("invoice.paid", invoice, api_version=LATEST_API_VERSION)).encode()
    pdf = b"%PDF-1.4\n% " + number.encode() + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"

    lexoffice = create_lexoffice_sandbox(api_keys=[LEXOFFICE_KEY], burst=100_000)
    async with AsyncExitStack() as stack:
        lexoffice_url = await stack.enter_async_context(serve_in_background(lexoffice.app))
        pdf_url = await stack.enter_async_context(serve_in_background(stripe_pdf_host(pdf)))
        gateway = gateway_settings(databases["gateway"], bootstrap, stripe_mock)
        bridge = bridge_settings(
            databases["bridge"],
            bootstrap,
            lexoffice_url,
            suffix,
            LEXOFFICE_BRIDGE_PDF_BASE=pdf_url,
            LEXOFFICE_BRIDGE_EMBEDDED_STATUS=False,
        )
        gateway_url = await stack.enter_async_context(serve_in_background(create_service_app(GATEWAY, gateway)))
        bridge_app = create_service_app(BRIDGE, bridge)
        await stack.enter_async_context(serve_in_background(bridge_app))

        await deliver_twice(gateway_url, webhook)

        async def attached() -> list[str] | None:
            rows = await bridge_app.state.pool.fetch(
                "SELECT kind FROM booking_ledger WHERE document_key = $1 ORDER BY id", invoice["id"]
            )
            kinds = [row["kind"] for row in rows]
            return kinds if "file_attached" in kinds else None

        assert await eventually(attached, timeout=90, what="the voucher with its PDF") == [
            "queued",
            "booked",
            "file_attached",
        ]
        lexoffice.assert_one_document_per_number()
        (voucher,) = lexoffice.documents_by_number()[number]
        assert voucher["voucherType"] == "salesinvoice"
        async with httpx.AsyncClient(base_url=lexoffice_url) as http:  # the sandbox's control route, not the API
            booked = (await http.get(f"/_sandbox/lexoffice/resources/{voucher['id']}")).json()
        # The webhook names the tax rate by id only: the bridge books the German rate that gives Stripe's tax.
        assert booked["totalGrossAmount"] == 23.8
        assert [(i["taxRatePercent"], i["amount"]) for i in booked["voucherItems"]] == [(19, 23.8)]
        # The voucher's own file ids, as Lexoffice lists them (a stored file's `voucher_id` names the voucher it was
        # first uploaded to: the sandbox keeps one copy per checksum).
        (file_id,) = booked["files"]
        assert lexoffice.store.files[file_id].content == pdf
        synced = await synced_values(bootstrap, invoice["id"])
        assert len(synced) == 1 and synced[0]["lexoffice_document_id"] == voucher["id"]
