"""`/admin/reconcile?month=YYYY-MM` over HTTP: the report of `reconcile --month` (lines, totals per tax rate, the
mismatches highlighted) from the ledger and the sandbox's voucherlist, behind the admin page's basic auth, escaped."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from intplat_sandboxes.framework import serve_in_background
from intplat_sandboxes.lexoffice import LexofficeSandbox, create_lexoffice_sandbox

from intplat_common.service import create_service_app
from lexoffice_bridge import ledger
from lexoffice_bridge.app import SERVICE
from lexoffice_bridge.ledger import LedgerEntry

from .admin_app import PASSWORDS, admin_settings
from .conftest import API_KEY
from .test_reconciliation import MONTH, NEXT_MONTH, a_month_with_every_case

ERIKA = ("erika", PASSWORDS["erika"])


@contextlib.asynccontextmanager
async def admin_client(database: str, **settings: Any) -> AsyncIterator[tuple[httpx.AsyncClient, asyncpg.Pool]]:
    app = create_service_app(SERVICE, admin_settings(database, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge.test", auth=ERIKA) as client:
            yield client, app.state.pool


@pytest.fixture
def sandbox() -> LexofficeSandbox:
    return create_lexoffice_sandbox(api_keys=[API_KEY], burst=100_000)


@pytest.fixture
async def admin(database: str, sandbox: LexofficeSandbox) -> AsyncIterator[tuple[httpx.AsyncClient, asyncpg.Pool]]:
    async with serve_in_background(sandbox.app) as url, admin_client(database, LEXOFFICE_API_BASE=url) as client:
        yield client


def row_of(page: str, document_key: str) -> str:
    found = re.search(rf"<tr[^>]*>\s*<td><a [^>]*>{re.escape(document_key)}</a>.*?</tr>", page, re.S)
    assert found, f"{document_key} has a line"
    return found.group(0)


async def test_the_month_lists_every_sale_with_its_mismatches_highlighted(
    admin: tuple[httpx.AsyncClient, asyncpg.Pool], sandbox: LexofficeSandbox
) -> None:
    client, pool = admin
    cases = await a_month_with_every_case(pool, sandbox)

    page = await client.get("/admin/reconcile", params={"month": MONTH})

    assert page.status_code == 200, page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert 'href="/admin/reconcile"' in page.text, "linked from the navigation"
    assert re.search(r'id="mismatch-count">4 mismatches<', page.text)
    matched = row_of(page.text, cases["matched"])
    assert 'class="mismatch"' not in matched and '<td class="state">matched</td>' in matched
    for kind in ("missing", "duplicated", "amount_differs", "manual"):
        line = row_of(page.text, cases[kind])
        assert 'class="mismatch"' in line and f'<td class="state">{kind}</td>' in line, kind
    totals = re.search(r'<table id="tax-totals">.*?</table>', page.text, re.S)
    assert totals and "<td>19</td>" in totals.group(0) and "<td>476.00</td>" in totals.group(0)
    assert "<td>7</td>" in totals.group(0) and "<td>42.80</td>" in totals.group(0)
    assert cases["next_month"] not in page.text

    later = await client.get("/admin/reconcile", params={"month": NEXT_MONTH})
    assert re.search(r'id="mismatch-count">0 mismatches<', later.text) and cases["next_month"] in later.text


async def test_the_reconciliation_needs_an_admin_and_a_month(admin: tuple[httpx.AsyncClient, asyncpg.Pool]) -> None:
    client, _ = admin

    refused = await client.get("/admin/reconcile", params={"month": MONTH}, auth=("erika", "wrong password"))

    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic ")
    for month in ("2026-13", "2026-1", "<b>x</b>"):
        assert (await client.get("/admin/reconcile", params={"month": month})).status_code == 422, month
    assert (await client.get("/admin/reconcile")).status_code == 200, "this month by default"


async def test_the_page_escapes_what_it_shows(admin: tuple[httpx.AsyncClient, asyncpg.Pool]) -> None:
    client, pool = admin
    evil = "in_<script>alert(1)</script>"
    await ledger.record(
        pool,
        LedgerEntry(
            document_key=evil, source="stripe_invoice", kind="needs_manual_booking", voucher_number="<b>INV</b>",
            currency="USD", reason="currency USD",
        ),
    )  # fmt: skip

    page = await client.get("/admin/reconcile")

    assert "<script>alert" not in page.text and "<b>INV" not in page.text
    assert "in_&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "&lt;b&gt;INV&lt;/b&gt;" in page.text


async def test_lexoffice_unreachable_is_a_clear_503(database: str) -> None:
    async with admin_client(database, LEXOFFICE_API_BASE="http://127.0.0.1:9", LEXOFFICE_MAX_ATTEMPTS=1) as (
        client,
        _,
    ):
        page = await client.get("/admin/reconcile", params={"month": MONTH})

        assert page.status_code == 503
        assert 'id="unavailable"' in page.text and 'id="lines"' not in page.text
