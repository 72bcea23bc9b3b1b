"""The stand-in for Stripe's PDF host: a valid PDF per invoice and credit note path, nothing elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from intplat_sandboxes.framework import serve_in_background
from intplat_sandboxes.stripe_files import create_stripe_files_sandbox
from intplat_sandboxes.stripe_files import main as stripe_files_main


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_in_background(create_stripe_files_sandbox()) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        yield http


def assert_valid_pdf(content: bytes) -> None:
    assert content.startswith(b"%PDF-1.4") and content.rstrip().endswith(b"%%EOF")
    xref_at = int(content.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert content[xref_at:].startswith(b"xref"), "startxref points at the xref table"


async def test_invoice_and_credit_note_pdfs_differ_per_document(client: httpx.AsyncClient) -> None:
    first = await client.get("/invoice/acct_1Demo/test_in_1/pdf", params={"s": "ap"})
    second = await client.get("/invoice/acct_1Demo/test_in_2/pdf")
    note = await client.get("/credit_notes/acct_1Demo/test_cn_1/pdf")
    for response in (first, second, note):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        assert_valid_pdf(response.content)
    assert len({first.content, second.content, note.content}) == 3, "Lexoffice de-duplicates files by checksum"
    assert b"(Invoice test_in_1) Tj" in first.content and b"(Credit note test_cn_1) Tj" in note.content


async def test_other_paths_are_not_found_and_fetches_are_logged(client: httpx.AsyncClient) -> None:
    assert (await client.get("/invoice/acct_1Demo/test_in_1")).status_code == 404
    assert (await client.get("/receipts/acct_1Demo/test_in_1/pdf")).status_code == 404
    await client.get("/invoice/acct_1Demo/test_in_3/pdf")
    logged = (await client.get("/_sandbox/requests", params={"method": "GET"})).json()
    assert [(r["path"], r["status"]) for r in logged][-1] == ("/invoice/acct_1Demo/test_in_3/pdf", 200)


def test_make_run_port() -> None:
    assert stripe_files_main.port({}) == 8104
    assert stripe_files_main.port({"STRIPE_FILES_SANDBOX_PORT": "9104"}) == 9104
