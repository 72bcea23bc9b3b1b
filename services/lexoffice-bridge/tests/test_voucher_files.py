"""Files of vouchers: an update through the client keeps every file the voucher has in the Lexoffice sandbox (which,
like Lexoffice, deletes a file whose id a PUT omits), and the PDF fetched from Stripe is at most 5 MB and a PDF."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from intplat_sandboxes.framework import serve_in_background
from intplat_sandboxes.lexoffice import LexofficeSandbox, create_lexoffice_sandbox

from lexoffice_bridge.client import LexofficeClient, lexoffice_http
from lexoffice_bridge.pdfs import InvoicePdfs, PdfUnavailable
from lexoffice_bridge.planning import SalePlan, plan_sale
from lexoffice_bridge.ports import MAX_FILE_BYTES

from .conftest import API_KEY, paid_invoice
from .test_reconciliation import POLICY, voucher_in

PDF = b"%PDF-1.7\n" + b"0" * 100


@pytest.fixture
async def lexoffice() -> AsyncIterator[tuple[LexofficeSandbox, LexofficeClient, str]]:
    sandbox = create_lexoffice_sandbox(api_keys=[API_KEY], burst=100_000)
    async with serve_in_background(sandbox.app) as url:
        client = LexofficeClient(lexoffice_http(api_base=url, api_key=API_KEY, limiter=None))
        yield sandbox, client, url
        await client.aclose()


async def test_a_voucher_update_keeps_its_files_in_the_sandbox(
    lexoffice: tuple[LexofficeSandbox, LexofficeClient, str],
) -> None:
    sandbox, client, url = lexoffice
    plan = plan_sale(paid_invoice(), POLICY)
    assert isinstance(plan, SalePlan)
    voucher_id = voucher_in(sandbox, plan)
    file_id = await client.upload_voucher_file(voucher_id, PDF, filename="invoice.pdf")

    await client.update_voucher(await client.get_voucher(voucher_id), {"remark": "Stripe invoice (corrected)"})

    updated = await client.get_voucher(voucher_id)
    assert (updated["remark"], updated["files"]) == ("Stripe invoice (corrected)", [file_id])
    # What the client guards against: the same PUT without the file ids deletes the file.
    omitting = {k: v for k, v in updated.items() if k != "files"}
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        assert (await http.put(f"/v1/vouchers/{voucher_id}", json=omitting)).status_code == 200
    assert (await client.get_voucher(voucher_id))["files"] == []


def pdfs_answering(content: bytes, status: int = 200) -> InvoicePdfs:
    transport = httpx.MockTransport(lambda _: httpx.Response(status, content=content))
    return InvoicePdfs(base="http://stripe-files.test", timeout=5, transport=transport)


URL = "https://pay.stripe.com/invoice/acct_1/test_in_1/pdf"


async def test_a_pdf_of_exactly_5_mb_is_fetched() -> None:
    content = PDF + b"0" * (MAX_FILE_BYTES - len(PDF))
    assert await pdfs_answering(content).fetch(URL) == content


@pytest.mark.parametrize(
    ("content", "status", "reason"),
    [
        (PDF + b"0" * (MAX_FILE_BYTES + 1 - len(PDF)), 200, "above Lexoffice's 5 MB"),
        (b"<html>login</html>", 200, "not a PDF"),
        (b"", 404, "HTTP 404"),
    ],
    ids=["above-5-mb", "not-a-pdf", "gone"],
)
async def test_a_pdf_that_lexoffice_would_refuse_is_unavailable_for_good(
    content: bytes, status: int, reason: str
) -> None:
    with pytest.raises(PdfUnavailable, match=reason) as refused:
        await pdfs_answering(content, status).fetch(URL)
    assert refused.value.permanent


async def test_without_a_base_only_stripes_https_hosts_are_fetched() -> None:
    pdfs = InvoicePdfs(base=None, timeout=5)
    assert pdfs.source(URL) == URL
    for url in ("http://pay.stripe.com/invoice/x/pdf", "https://stripe.com.evil.test/x/pdf", None):
        with pytest.raises(PdfUnavailable) as refused:
            pdfs.source(url)
        assert refused.value.permanent
    await pdfs.aclose()
