"""`/admin/` over HTTP: basic auth (401 with a challenge otherwise), escaped output, forms that need the user's own
CSRF token and answer with a redirect back to the document."""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from intplat_common.credentials import verify_password
from intplat_common.service import create_service_app
from lexoffice_bridge.admin.command import HASH_PASSWORD
from lexoffice_bridge.app import SERVICE

from .admin_app import PASSWORDS, admin_settings, admin_users
from .admin_seed import failed_document, kinds, manual_document, statuses
from .conftest import make_settings

ERIKA = ("erika", PASSWORDS["erika"])
EVIL = "in_<script>alert(1)</script>"


@pytest.fixture
async def admin(database: str) -> AsyncIterator[tuple[httpx.AsyncClient, asyncpg.Pool]]:
    app = create_service_app(SERVICE, admin_settings(database))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge.test", auth=ERIKA) as client:
            yield client, app.state.pool


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the page has a form"
    return found.group(1)


@pytest.mark.parametrize(
    "auth",
    [None, ("erika", "wrong password"), ("nobody", PASSWORDS["erika"]), ("erika", PASSWORDS["max"])],
    ids=["none", "wrong-password", "unknown-user", "other-users-password"],
)
async def test_without_valid_credentials_the_page_asks_for_them(
    admin: tuple[httpx.AsyncClient, asyncpg.Pool], auth: tuple[str, str] | None
) -> None:
    client, pool = admin
    await failed_document(pool, "in_1", "INV-1")

    for method, path in [("GET", "/admin/"), ("GET", "/admin/documents/in_1"), ("POST", "/admin/documents/in_1/retry")]:
        answer = await client.request(method, path, auth=auth)
        assert answer.status_code == 401, (method, path)
        assert answer.headers["www-authenticate"].startswith('Basic realm="lexoffice-bridge admin"')
        assert "in_1" not in answer.text
    assert (await statuses(pool))["voucher:INV-1"] == "dead"


async def test_the_list_shows_open_documents_and_filters(admin: tuple[httpx.AsyncClient, asyncpg.Pool]) -> None:
    client, pool = admin
    await failed_document(pool, "in_failed", "INV-1")
    await manual_document(pool, "in_usd", "INV-2")

    everything = await client.get("/admin/")
    failed = await client.get("/admin/", params={"state": "failed", "source": "", "since": "", "until": "", "q": ""})
    searched = await client.get("/admin/", params={"q": "INV-2"})

    assert everything.status_code == 200
    assert "in_failed" in everything.text and "in_usd" in everything.text
    assert "in_failed" in failed.text and "in_usd" not in failed.text
    assert "in_usd" in searched.text and "in_failed" not in searched.text
    assert everything.headers["content-security-policy"].startswith("default-src 'none'")
    assert (await client.get("/admin/", params={"state": "deleted"})).status_code == 422
    assert (await client.get("/admin/", params={"since": "1.1.2026"})).status_code == 422


async def test_every_page_escapes_what_it_shows(admin: tuple[httpx.AsyncClient, asyncpg.Pool]) -> None:
    client, pool = admin
    await failed_document(pool, EVIL, "<b>INV</b>")

    pages = [
        await client.get("/admin/"),
        await client.get(f"/admin/documents/{quote(EVIL, safe='')}"),
        await client.get("/admin/documents/" + quote("<i>missing</i>", safe="")),
    ]

    for page in pages:
        assert "<script>alert" not in page.text and "<b>INV" not in page.text and "<i>missing" not in page.text
    assert "in_&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].text
    assert "&lt;b&gt;INV&lt;/b&gt;" in pages[1].text
    assert pages[2].status_code == 404


async def test_retry_needs_the_users_own_csrf_token_and_redirects_back(
    admin: tuple[httpx.AsyncClient, asyncpg.Pool],
) -> None:
    client, pool = admin
    await failed_document(pool, "in_1", "INV-1")
    page = await client.get("/admin/documents/in_1")
    token = csrf_of(page)
    maxs_token = csrf_of(await client.get("/admin/documents/in_1", auth=("max", PASSWORDS["max"])))

    for form in ({}, {"csrf": "forged"}, {"csrf": maxs_token}):
        refused = await client.post("/admin/documents/in_1/retry", data=form)
        assert refused.status_code == 403
    assert [kind for kind, _ in await kinds(pool, "in_1")] == ["queued", "failed"]

    done = await client.post("/admin/documents/in_1/retry", data={"csrf": token})

    assert done.status_code == 303
    assert done.headers["location"] == "/admin/documents/in_1?notice=retried"
    assert (await kinds(pool, "in_1"))[-1] == ("retry_requested", "erika")
    shown = await client.get(done.headers["location"])
    assert "Retry requested" in shown.text and 'id="state">retry_requested<' in shown.text
    again = await client.post("/admin/documents/in_1/retry", data={"csrf": token})
    assert again.headers["location"].endswith("?notice=nothing_to_retry")


async def test_mark_booked_manually_needs_a_number_and_a_note(admin: tuple[httpx.AsyncClient, asyncpg.Pool]) -> None:
    client, pool = admin
    await manual_document(pool, "in_usd", "INV-2")
    token = csrf_of(await client.get("/admin/documents/in_usd"))

    missing = await client.post("/admin/documents/in_usd/booked-manually", data={"csrf": token, "note": "x"})
    done = await client.post(
        "/admin/documents/in_usd/booked-manually",
        data={"csrf": token, "document_number": "RE-7", "note": "booked by hand in Lexware"},
    )

    assert missing.status_code == 422
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/documents/in_usd?notice=booked_manually"
    assert await kinds(pool, "in_usd") == [("needs_manual_booking", "lexoffice-bridge"), ("booked_manually", "erika")]
    page = await client.get("/admin/documents/in_usd")
    assert 'id="mark-booked"' not in page.text, "a booked document offers no action"


def test_admin_users_are_name_and_hash_pairs() -> None:
    with pytest.raises(ValidationError, match="name:hash"):
        admin_settings("postgresql://unused/none", LEXOFFICE_BRIDGE_ADMIN_USERS="erika")
    with pytest.raises(ValidationError, match="password hash"):
        admin_settings("postgresql://unused/none", LEXOFFICE_BRIDGE_ADMIN_USERS="erika:secret")
    with pytest.raises(ValidationError, match="CREDENTIALS_ENCRYPTION_KEYS"):
        make_settings(LEXOFFICE_BRIDGE_ADMIN_USERS=admin_users())


def test_hash_password_prints_a_users_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings()
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))

    assert HASH_PASSWORD.run(argparse.Namespace(user="erika", stdin=True), settings) == 0

    entry = capsys.readouterr().out.strip()
    parsed = admin_settings("postgresql://unused/none", LEXOFFICE_BRIDGE_ADMIN_USERS=entry).admin_users
    assert list(parsed) == ["erika"]
    assert verify_password("a long enough password", parsed["erika"])
    monkeypatch.setattr("sys.stdin", io.StringIO("too short\n"))
    assert HASH_PASSWORD.run(argparse.Namespace(user="erika", stdin=True), settings) == 2
    assert capsys.readouterr().out == ""
