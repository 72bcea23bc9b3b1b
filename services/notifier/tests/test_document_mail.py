"""The invoice Lexoffice issued for a checkout, mailed with its PDF attached: `bookkeeping.document.synced.v1` on real
Kafka → the notifier (PostgreSQL) → the PDF from lexoffice-bridge (a stand-in on a real socket) → the Postmark
sandbox. Once per document; a bridge that is down delays the mail, never drops it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import Request, Response
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import ReservedPort, SandboxApp, StatusFault, create_sandbox_app, serve_in_background

from notifier.adapters.bridge_documents import BridgeDocuments
from notifier.consumers.documents import plan_document_mail
from notifier.ports import DocumentUnavailable

from .conftest import Platform, Topics, make_settings, publish, running_notifier
from .samples import document_synced

BRIDGE_KEY = "test-bridge-key"
DOCUMENT = "0b0e6a8e-4d6f-4c1e-9c55-1f2d3e4a5b6c"
PDF = b"%PDF-1.4\n% invoice RE-10001\n%%EOF\n"


@dataclass
class Bridge:
    app: SandboxApp
    url: str

    def file_url(self, document_id: str = DOCUMENT) -> str:
        return f"{self.url}/v1/documents/{document_id}/file"

    def fetched(self) -> list[int | None]:
        return [r.status for r in self.app.requests.records(path_prefix="/v1/documents/")]


@pytest.fixture
async def bridge() -> AsyncIterator[Bridge]:
    """lexoffice-bridge's `GET /v1/documents/{id}/file` as it answers: the PDF for its internal API key, else 401."""
    box = create_sandbox_app("lexoffice-bridge")

    async def document_file(document_id: str, request: Request) -> Response:
        if request.headers.get("x-internal-api-key") != BRIDGE_KEY:
            return Response(status_code=401)
        if document_id != DOCUMENT:
            return Response(status_code=404)
        disposition = 'attachment; filename="Rechnung-2026-03-01.pdf"'
        return Response(PDF, media_type="application/pdf", headers={"Content-Disposition": disposition})

    box.api.add_api_route("/v1/documents/{document_id}/file", document_file, methods=["GET"])
    async with serve_in_background(box) as url:
        yield Bridge(box, url)


@pytest.fixture
async def mailer(
    database: str, kafka: Any, stripe_mock: str, postmark_sandbox: tuple[Any, str], topics: Topics, bridge: Bridge
) -> AsyncIterator[Platform]:
    box, box_url = postmark_sandbox
    extra = {"LEXOFFICE_BRIDGE_URL": bridge.url, "LEXOFFICE_BRIDGE_API_KEY": BRIDGE_KEY, **topics.settings()}
    settings = make_settings(database, kafka.bootstrap_servers, box_url, stripe_mock, **extra)
    with ReservedPort() as port:
        async with running_notifier(settings, port, box, box_url) as running:
            yield running


async def sent(platform: Platform, count: int = 1) -> list[Any]:
    async def arrived() -> list[Any] | None:
        rows = await platform.pool.fetch("SELECT status FROM messages")
        return platform.sandbox.messages if [r["status"] for r in rows] == ["sent"] * count else None

    result: list[Any] = await eventually(arrived, timeout=60, what=f"{count} mail(s) sent")
    return result


@pytest.mark.integration
async def test_the_invoice_is_mailed_once_with_its_pdf_attached(
    mailer: Platform, topics: Topics, kafka: Any, bridge: Bridge
) -> None:
    event = document_synced(bridge.file_url())
    # The bridge's outbox may publish a document's event again: same id, one mail.
    await publish(kafka.bootstrap_servers, topics.names["documents"], event, event_id=f"invoice-{DOCUMENT}", times=2)
    voucher = document_synced(bridge.file_url(), document_type="voucher", source_type="stripe_invoice")
    await publish(kafka.bootstrap_servers, topics.names["documents"], voucher, event_id="voucher-1")

    (mail,) = await sent(mailer)
    assert (mail.to, mail.tag, mail.subject) == ("ada@example.com", "checkout_invoice", "Ihre Rechnung vom 01.03.2026")
    ((attachment),) = mail.attachments
    assert (attachment.name, attachment.content_type, attachment.content) == (
        "Rechnung-2026-03-01.pdf",
        "application/pdf",
        PDF,
    )
    assert bridge.fetched() == [200]


@pytest.mark.integration
async def test_a_bridge_that_is_down_delays_the_mail_and_never_drops_it(
    mailer: Platform, topics: Topics, kafka: Any, bridge: Bridge
) -> None:
    bridge.app.faults.add(StatusFault(path_prefix="/v1/documents/", status=503, times=7))
    await publish(
        kafka.bootstrap_servers,
        topics.names["documents"],
        document_synced(bridge.file_url()),
        event_id=f"invoice-{DOCUMENT}",
    )

    (mail,) = await sent(mailer)
    assert [a.content for a in mail.attachments] == [PDF]
    fetched = bridge.fetched()
    assert fetched.count(503) == 7 and fetched[-1] == 200
    (row,) = await mailer.pool.fetch("SELECT attempts FROM messages")
    assert row["attempts"] > 1, "the sender came back for it"


def test_only_invoices_issued_for_checkouts_with_a_file_are_mailed() -> None:
    assert not isinstance(plan_document_mail(document_synced()), str)
    voucher = document_synced(document_type="voucher", source_type="stripe_invoice")
    assert isinstance(plan_document_mail(voucher), str)
    assert plan_document_mail(document_synced(None)) == "the event names no file of the document"


async def test_the_key_goes_only_to_the_bridge() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=PDF, headers={"Content-Type": "application/pdf"})

    documents = BridgeDocuments(
        bridge_url="http://bridge.internal", api_key=BRIDGE_KEY, transport=httpx.MockTransport(answer)
    )
    for url in ("https://attacker.example/v1/documents/x/file", "http://bridge.internal.attacker.example/v1/x"):
        with pytest.raises(DocumentUnavailable) as caught:
            await documents.fetch(url)
        assert caught.value.permanent
    assert seen == []
    fetched = await documents.fetch(f"http://bridge.internal/v1/documents/{DOCUMENT}/file")
    assert (fetched.name, fetched.content) == ("document.pdf", PDF)
    assert [(r.url.path, r.headers["X-Internal-Api-Key"]) for r in seen] == [
        (f"/v1/documents/{DOCUMENT}/file", BRIDGE_KEY)
    ]
    await documents.aclose()
