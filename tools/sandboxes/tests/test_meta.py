"""The Meta Graph sandbox over a real socket: both logins, token expiry on the sandbox clock, the Graph reads
instagram-sync makes, budgets and throttling, webhooks; every answer checked against tests/contract/meta."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from intplat_devstack.contracts import load_contract
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import FrozenClock, serve_in_background
from intplat_sandboxes.meta import (
    ADA_USER_ID,
    BAKERY_ACCOUNT_ID,
    BAKERY_PAGE_ID,
    BO_ACCOUNT_ID,
    BO_PAGE_ID,
    BO_USER_ID,
    CREATOR_ACCOUNT_ID,
    OLD_PAGE_ID,
    SIGNATURE_HEADER,
    TINY_ACCOUNT_ID,
    MetaSandbox,
    create_meta_sandbox,
)
from intplat_sandboxes.meta import main as meta_main

from .sandbox_checks import ContractCheck, console_script_served, served_by_run

APP_ID = "app-123"
APP_SECRET = "app-secret-456"
V = "/v23.0"
REDIRECT = "https://sync.example/v1/instagram/callback"
FACEBOOK_SCOPES = "instagram_basic,instagram_manage_insights,pages_show_list,pages_read_engagement"
INSTAGRAM_SCOPES = "instagram_business_basic,instagram_business_manage_insights"
DAY = 86_400
APP_TOKEN = f"{APP_ID}|{APP_SECRET}"
CONTRACT = load_contract("meta")
NUMERIC = r"[0-9]+"
RESPONSE_SCHEMAS: list[tuple[str, str, str]] = [
    ("GET", r"/oauth/access_token", "token"),
    ("GET", r"/access_token", "token"),
    ("GET", r"/refresh_access_token", "token"),
    ("POST", r"/oauth/access_token", "instagram-code-token"),
    ("GET", r"/debug_token", "debug-token"),
    ("GET", r"/me/accounts", "pages.page"),
    ("GET", rf"/{NUMERIC}/accounts", "pages.page"),
    ("GET", r"/me/permissions", "permissions.list"),
    ("GET", rf"/(me|{BAKERY_ACCOUNT_ID}|{TINY_ACCOUNT_ID}|{BO_ACCOUNT_ID}|{CREATOR_ACCOUNT_ID})", "ig-user.read"),
    ("GET", rf"/{NUMERIC}/(media|stories)", "media.page"),
    ("GET", rf"/1784{NUMERIC}/insights", "user-insights"),
    ("GET", rf"/1790{NUMERIC}/insights", "media-insights"),
    ("POST", rf"/{NUMERIC}/(media|media_publish)", "created"),
    ("GET", rf"/1780{NUMERIC}", "container.read"),
    ("GET", rf"/{NUMERIC}/content_publishing_limit", "content-publishing-limit"),
]
VERSION = r"^/v\d+\.\d+"
USAGE_HEADERS = {"X-Business-Use-Case-Usage": "header.business-use-case-usage", "X-App-Usage": "header.app-usage"}
# Answers without a contract document: the dialogs' redirects, control routes, the health probe.
CHECK = ContractCheck(
    CONTRACT,
    RESPONSE_SCHEMAS,
    contracted_path=lambda path: None if path.startswith(("/_sandbox", "/healthz")) else re.sub(VERSION, "", path),
    error_schema=lambda _path, _status: "error",
)


async def contract_checked(response: httpx.Response) -> None:
    """The body, and both usage headers wherever they come."""
    await CHECK.response_hook(response)
    for header, schema in USAGE_HEADERS.items():
        if header in response.headers:
            CHECK.check(schema, json.loads(response.headers[header]), header)


@pytest.fixture(scope="module", autouse=True)
def every_response_schema_is_checked(request: pytest.FixtureRequest) -> Iterator[None]:
    """When the whole module ran, every response schema was checked by some test (no schema without a test)."""
    yield
    CHECK.assert_all_checked(request, also={"error", "webhook.story-insights", *USAGE_HEADERS.values()})


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def meta() -> MetaSandbox:
    """On a clock that moves only when told (expiry and budgets stay exact on a slow machine)."""
    return create_meta_sandbox(app_id=APP_ID, app_secret=APP_SECRET, clock=FrozenClock())


@pytest.fixture
async def base_url(meta: MetaSandbox) -> AsyncIterator[str]:
    async with serve_in_background(meta.app) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30, event_hooks={"response": [contract_checked]}) as http:
        yield http


def error_of(response: httpx.Response) -> tuple[int, int | None]:
    error = response.json()["error"]
    assert error["fbtrace_id"]
    return error["code"], error.get("error_subcode")


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    query = urlsplit(location).query
    return {key: values[0] for key, values in parse_qs(query).items()}


async def facebook_code(client: httpx.AsyncClient, *, scope: str = FACEBOOK_SCOPES, state: str = "st-1") -> str:
    params = {"client_id": APP_ID, "redirect_uri": REDIRECT, "state": state, "scope": scope, "response_type": "code"}
    return redirect_params(await client.get(f"{V}/dialog/oauth", params=params))["code"]


async def facebook_token(client: httpx.AsyncClient, *, long_lived: bool = True, scope: str = FACEBOOK_SCOPES) -> str:
    code = await facebook_code(client, scope=scope)
    params = {"client_id": APP_ID, "client_secret": APP_SECRET, "redirect_uri": REDIRECT, "code": code}
    short = await client.get(f"{V}/oauth/access_token", params=params)
    assert short.status_code == 200, short.text
    if not long_lived:
        return str(short.json()["access_token"])
    exchange = {"grant_type": "fb_exchange_token", "client_id": APP_ID, "client_secret": APP_SECRET,
                "fb_exchange_token": short.json()["access_token"]}  # fmt: skip
    long = await client.get(f"{V}/oauth/access_token", params=exchange)
    assert long.status_code == 200, long.text
    return str(long.json()["access_token"])


async def instagram_code(client: httpx.AsyncClient, *, scope: str = INSTAGRAM_SCOPES) -> str:
    params = {"client_id": APP_ID, "redirect_uri": REDIRECT, "response_type": "code", "scope": scope, "state": "s"}
    response = await client.get("/oauth/authorize", params=params)
    assert response.headers["location"].endswith("#_")
    return redirect_params(response)["code"]


async def instagram_token(client: httpx.AsyncClient, *, long_lived: bool = True) -> str:
    form = {"client_id": APP_ID, "client_secret": APP_SECRET, "grant_type": "authorization_code",
            "redirect_uri": REDIRECT, "code": await instagram_code(client)}  # fmt: skip
    short = await client.post("/oauth/access_token", data=form)
    assert short.status_code == 200, short.text
    token = str(short.json()["data"][0]["access_token"])
    if not long_lived:
        return token
    params = {"grant_type": "ig_exchange_token", "client_secret": APP_SECRET, "access_token": token}
    long = await client.get("/access_token", params=params)
    assert long.status_code == 200, long.text
    return str(long.json()["access_token"])


async def get(client: httpx.AsyncClient, path: str, token: str, **params: str) -> httpx.Response:
    return await client.get(f"{V}{path}", params={"access_token": token, **params})


async def all_media(client: httpx.AsyncClient, token: str, limit: int) -> list[tuple[int, bool]]:
    """(items, has next) per page, following `next` URLs until there is none."""
    pages = []
    url: str | None = f"{client.base_url}{V}/{BAKERY_ACCOUNT_ID}/media?access_token={token}&limit={limit}"
    while url is not None:
        body = (await client.get(url)).json()
        pages.append((len(body["data"]), "next" in body["paging"]))
        url = body["paging"].get("next")
    return pages


# -- Facebook Login for Business --------------------------------------------------------------


async def test_facebook_login_code_short_and_long_lived_tokens(client: httpx.AsyncClient) -> None:
    dialog = await client.get(
        f"{V}/dialog/oauth",
        params={"client_id": APP_ID, "redirect_uri": REDIRECT, "state": "csrf-1", "scope": FACEBOOK_SCOPES},
    )
    assert dialog.headers["location"].startswith(f"{REDIRECT}?")
    params = redirect_params(dialog)
    assert params["state"] == "csrf-1"
    exchange = {"client_id": APP_ID, "client_secret": APP_SECRET, "redirect_uri": REDIRECT, "code": params["code"]}
    short = await client.get(f"{V}/oauth/access_token", params=exchange)
    assert (short.json()["token_type"], short.json()["expires_in"]) == ("bearer", 3600)
    long = await client.get(
        f"{V}/oauth/access_token",
        params={"grant_type": "fb_exchange_token", "client_id": APP_ID, "client_secret": APP_SECRET,
                "fb_exchange_token": short.json()["access_token"]},
    )  # fmt: skip
    assert long.json()["expires_in"] == 5_183_944
    me = await get(client, "/me", long.json()["access_token"])
    assert me.json() == {"id": ADA_USER_ID, "name": "Ada Client"}


async def test_facebook_login_for_business_config_id_grants_the_configured_permissions(
    client: httpx.AsyncClient,
) -> None:
    params = {"client_id": APP_ID, "redirect_uri": REDIRECT, "state": "s", "config_id": "cfg-1"}
    code = redirect_params(await client.get(f"{V}/dialog/oauth", params=params))["code"]
    exchange = {"client_id": APP_ID, "client_secret": APP_SECRET, "redirect_uri": REDIRECT, "code": code}
    token = (await client.get(f"{V}/oauth/access_token", params=exchange)).json()["access_token"]
    granted = [p["permission"] for p in (await get(client, "/me/permissions", token)).json()["data"]]
    assert sorted(granted) == sorted(FACEBOOK_SCOPES.split(","))


async def test_code_is_single_use_short_lived_and_bound_to_its_redirect_uri(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    exchange = {"client_id": APP_ID, "client_secret": APP_SECRET, "redirect_uri": REDIRECT}
    code = await facebook_code(client)
    slash = {"code": code, "redirect_uri": REDIRECT + "/"}
    other_uri = await client.get(f"{V}/oauth/access_token", params=exchange | slash)
    assert error_of(other_uri) == (100, 36008), "exactly the dialog's redirect_uri, trailing slash included"
    assert (await client.get(f"{V}/oauth/access_token", params=exchange | {"code": code})).status_code == 200
    reused = await client.get(f"{V}/oauth/access_token", params=exchange | {"code": code})
    assert error_of(reused) == (100, 36009)
    late = await facebook_code(client)
    meta.clock.advance(11 * 60)
    assert error_of(await client.get(f"{V}/oauth/access_token", params=exchange | {"code": late})) == (100, 36007)
    wrong_secret = await client.get(
        f"{V}/oauth/access_token", params=exchange | {"code": await facebook_code(client), "client_secret": "x"}
    )
    assert error_of(wrong_secret) == (1, None)


async def test_pages_with_and_without_an_instagram_account_are_paged(client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    first = await get(client, "/me/accounts", token, fields="id,name,instagram_business_account", limit="2")
    assert [page["id"] for page in first.json()["data"]] == [BAKERY_PAGE_ID, OLD_PAGE_ID]
    assert first.json()["data"][0]["instagram_business_account"] == {"id": BAKERY_ACCOUNT_ID}
    assert "instagram_business_account" not in first.json()["data"][1], "a Page without an Instagram account"
    rest = await client.get(first.json()["paging"]["next"])
    assert [p["instagram_business_account"]["id"] for p in rest.json()["data"]] == [TINY_ACCOUNT_ID]
    assert "next" not in rest.json()["paging"]
    default = (await get(client, "/me/accounts", token)).json()["data"][0]
    assert set(default) == {"id", "name", "access_token", "category"}


async def test_page_token_from_a_long_lived_user_token_never_expires(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    user_token = await facebook_token(client)
    pages = (await get(client, "/me/accounts", user_token, fields="id,access_token")).json()["data"]
    page_token = pages[0]["access_token"]
    again = (await get(client, "/me/accounts", user_token, fields="id,access_token")).json()["data"]
    assert again[0]["access_token"] == page_token, "the same Page token on every call"
    meta.clock.advance(61 * DAY)
    assert error_of(await get(client, "/me", user_token)) == (190, 463)
    assert (await get(client, f"/{BAKERY_ACCOUNT_ID}", page_token)).json() == {"id": BAKERY_ACCOUNT_ID}
    assert (await get(client, "/me", page_token, fields="id,name")).json() == {
        "id": BAKERY_PAGE_ID,
        "name": "Ada's Bakery",
    }
    debug = await client.get(f"{V}/debug_token", params={"input_token": page_token, "access_token": APP_TOKEN})
    assert (debug.json()["data"]["type"], debug.json()["data"]["expires_at"]) == ("PAGE", 0)


async def test_declined_scope_shows_in_permissions_and_its_reads_answer_code_10(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    await client.put("/_sandbox/meta/login", json={"declined": ["instagram_manage_insights"]})
    token = await facebook_token(client)
    permissions = (await get(client, "/me/permissions", token)).json()["data"]
    assert {"permission": "instagram_manage_insights", "status": "declined"} in permissions
    assert {"permission": "instagram_basic", "status": "granted"} in permissions
    assert (await get(client, f"/{BAKERY_ACCOUNT_ID}", token)).status_code == 200
    insights = await get(client, f"/{BAKERY_ACCOUNT_ID}/insights", token, metric="reach", period="day")
    assert error_of(insights) == (10, None)
    assert meta.tokens.tokens[token].declined == ["instagram_manage_insights"]


async def test_cancelled_dialog_redirects_with_access_denied_and_the_state(client: httpx.AsyncClient) -> None:
    await client.put("/_sandbox/meta/login", json={"cancel": True})
    params = {"client_id": APP_ID, "redirect_uri": REDIRECT, "state": "csrf-2", "scope": FACEBOOK_SCOPES}
    denied = redirect_params(await client.get(f"{V}/dialog/oauth", params=params))
    assert (denied["error"], denied["error_reason"], denied["state"]) == ("access_denied", "user_denied", "csrf-2")
    assert "code" not in denied


async def test_dialog_refuses_an_unknown_app_an_unregistered_redirect_and_unknown_scopes() -> None:
    meta = create_meta_sandbox(app_id=APP_ID, app_secret=APP_SECRET, redirect_uris=[REDIRECT])
    async with serve_in_background(meta.app) as url, httpx.AsyncClient(base_url=url) as client:
        base = {"client_id": APP_ID, "redirect_uri": REDIRECT, "scope": FACEBOOK_SCOPES}
        assert error_of(await client.get("/dialog/oauth", params=base | {"client_id": "nope"})) == (101, None)
        unregistered = base | {"redirect_uri": REDIRECT + "/"}
        assert error_of(await client.get("/dialog/oauth", params=unregistered)) == (191, None)
        assert error_of(await client.get("/dialog/oauth", params=base | {"scope": "instagram_basic,root"}))[0] == 100
        old_name = {"client_id": APP_ID, "redirect_uri": REDIRECT, "scope": "business_basic"}
        assert error_of(await client.get("/oauth/authorize", params=old_name))[0] == 100, "renamed Jan 27, 2025"


async def test_a_second_user_sees_only_their_own_account(client: httpx.AsyncClient) -> None:
    await client.put("/_sandbox/meta/login", json={"facebook_user_id": BO_USER_ID})
    token = await facebook_token(client)
    pages = (await get(client, "/me/accounts", token, fields="instagram_business_account")).json()["data"]
    assert pages == [{"instagram_business_account": {"id": BO_ACCOUNT_ID}, "id": BO_PAGE_ID}], "id comes unasked"
    assert error_of(await get(client, f"/{BAKERY_ACCOUNT_ID}", token)) == (100, 33)


# -- Instagram Login --------------------------------------------------------------------------


async def test_instagram_login_code_short_and_long_lived_tokens(client: httpx.AsyncClient) -> None:
    await client.put("/_sandbox/meta/login", json={"instagram_account_id": CREATOR_ACCOUNT_ID})
    code = await instagram_code(client)
    form = {"client_id": APP_ID, "client_secret": APP_SECRET, "grant_type": "authorization_code",
            "redirect_uri": REDIRECT, "code": code + "#_"}  # fmt: skip
    short = await client.post("/oauth/access_token", data=form)
    (entry,) = short.json()["data"]
    assert (entry["user_id"], entry["permissions"]) == (CREATOR_ACCOUNT_ID, INSTAGRAM_SCOPES)
    long = await client.get(
        "/access_token",
        params={"grant_type": "ig_exchange_token", "client_secret": APP_SECRET, "access_token": entry["access_token"]},
    )
    assert (long.json()["token_type"], long.json()["expires_in"]) == ("bearer", 5_184_000)
    me = await get(client, "/me", long.json()["access_token"], fields="id,user_id,username,account_type")
    assert me.json() == {"id": CREATOR_ACCOUNT_ID, "user_id": CREATOR_ACCOUNT_ID, "username": "creator.studio",
                         "account_type": "BUSINESS"}  # fmt: skip


async def test_instagram_refresh_only_after_24_hours_and_before_expiry(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    token = await instagram_token(client)
    refresh = {"grant_type": "ig_refresh_token"}
    too_early = await client.get("/refresh_access_token", params=refresh | {"access_token": token})
    assert error_of(too_early)[0] == 190
    meta.clock.advance(DAY)
    refreshed = await client.get("/refresh_access_token", params=refresh | {"access_token": token})
    assert refreshed.json()["expires_in"] == 5_184_000
    new_token = refreshed.json()["access_token"]
    meta.clock.advance(59 * DAY)
    assert error_of(await get(client, "/me", token)) == (190, 463), "the old token kept its own expiry"
    assert (await get(client, "/me", new_token)).status_code == 200, "60 days from the refresh"
    meta.clock.advance(2 * DAY)
    expired = await client.get("/refresh_access_token", params=refresh | {"access_token": new_token})
    assert error_of(expired) == (190, 463), "an expired token cannot be refreshed"


async def test_short_lived_tokens_expire_after_an_hour_and_cannot_be_exchanged_then(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    facebook_short = await facebook_token(client, long_lived=False)
    instagram_short = await instagram_token(client, long_lived=False)
    meta.clock.advance(3600)
    assert error_of(await get(client, "/me", facebook_short)) == (190, 463)
    exchange = {"grant_type": "fb_exchange_token", "client_id": APP_ID, "client_secret": APP_SECRET,
                "fb_exchange_token": facebook_short}  # fmt: skip
    assert error_of(await client.get(f"{V}/oauth/access_token", params=exchange)) == (190, 463)
    ig_exchange = {"grant_type": "ig_exchange_token", "client_secret": APP_SECRET, "access_token": instagram_short}
    assert error_of(await client.get("/access_token", params=ig_exchange)) == (190, 463)


@pytest.mark.parametrize("subcode", [458, 460, 463, 467, 492])
async def test_an_invalidated_token_answers_190_with_its_subcode(
    meta: MetaSandbox, client: httpx.AsyncClient, subcode: int
) -> None:
    token = await facebook_token(client)
    invalidate = {"access_token": token, "subcode": subcode}
    assert (await client.post("/_sandbox/meta/tokens/invalidate", json=invalidate)).status_code == 204
    assert error_of(await get(client, f"/{BAKERY_ACCOUNT_ID}", token)) == (190, subcode)
    debug = await client.get(f"{V}/debug_token", params={"input_token": token, "access_token": APP_TOKEN})
    assert debug.json()["data"]["is_valid"] is False
    assert debug.json()["data"]["error"]["subcode"] == subcode
    assert error_of(await get(client, "/me", "not-a-token")) == (190, None)
    assert error_of(await client.get(f"{V}/me")) == (104, None)


async def test_debug_token_reports_expiry_scopes_and_data_access(meta: MetaSandbox, client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    debug = await client.get(f"{V}/debug_token", params={"input_token": token, "access_token": APP_TOKEN})
    data = debug.json()["data"]
    issued = int(meta.now().timestamp())
    assert (data["type"], data["is_valid"], data["app_id"], data["user_id"]) == ("USER", True, APP_ID, ADA_USER_ID)
    assert data["expires_at"] == issued + 5_183_944
    assert data["data_access_expires_at"] == issued + 90 * DAY
    assert sorted(data["scopes"]) == sorted(FACEBOOK_SCOPES.split(","))


async def test_the_app_token_inspects_itself_and_a_wrong_secret_is_refused(client: httpx.AsyncClient) -> None:
    """What instagram-sync's uptime probe asks: its own app token, valid and never expiring."""
    debug = await client.get(f"{V}/debug_token", params={"input_token": APP_TOKEN, "access_token": APP_TOKEN})
    data = debug.json()["data"]
    assert (data["type"], data["is_valid"], data["app_id"], data["expires_at"]) == ("APP", True, APP_ID, 0)
    wrong = f"{APP_ID}|not-the-secret"
    refused = await client.get(f"{V}/debug_token", params={"input_token": wrong, "access_token": wrong})
    assert (refused.status_code, error_of(refused)[0]) == (400, 190)


# -- profile, media, insights -------------------------------------------------------------------


async def test_profile_returns_only_the_requested_fields(client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    fields = "id,username,name,biography,followers_count,follows_count,media_count,profile_picture_url,website"
    profile = (await get(client, f"/{BAKERY_ACCOUNT_ID}", token, fields=fields)).json()
    assert list(profile) == fields.split(",")
    assert (profile["id"], profile["followers_count"], profile["media_count"]) == (BAKERY_ACCOUNT_ID, 1520, 23)
    assert (await get(client, f"/{BAKERY_ACCOUNT_ID}", token)).json() == {"id": BAKERY_ACCOUNT_ID}
    unknown = await get(client, f"/{BAKERY_ACCOUNT_ID}", token, fields="id,impressions")
    assert error_of(unknown) == (100, None)
    assert "nonexisting field (impressions)" in unknown.json()["error"]["message"]


async def test_field_expansion_reads_media_and_their_insights_in_one_call(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    token = await facebook_token(client)
    fields = "id,followers_count,media.limit(3){id,media_type,media_product_type,timestamp,insights.metric(reach)}"
    body = (await get(client, f"/{BAKERY_ACCOUNT_ID}", token, fields=fields)).json()
    media = body["media"]["data"]
    assert len(media) == 3
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0000", media[0]["timestamp"])
    assert all(re.fullmatch(NUMERIC, m["id"]) for m in media)
    following = await client.get(body["media"]["paging"]["next"])
    assert following.status_code == 200
    assert set(following.json()["data"][0]) >= {"id", "media_type", "insights"} or following.json()["data"] == []
    assert meta.budgets.accounts[BAKERY_ACCOUNT_ID].calls == 2, "one call for the profile and three media"


async def test_media_paging_has_short_and_empty_pages_that_still_carry_next(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    token = await facebook_token(client)
    pages = await all_media(client, token, limit=5)
    assert pages[:3] == [(5, True), (2, True), (0, True)], "a short page and an empty page, both with next"
    assert pages[-1][1] is False, "only the last page has no next"
    assert sum(items for items, _ in pages) == len(meta.account(BAKERY_ACCOUNT_ID).media_ids) == 24
    await client.put(f"/_sandbox/meta/accounts/{BAKERY_ACCOUNT_ID}/paging", json={"empty_pages": [0]})
    assert (await all_media(client, token, limit=10))[:2] == [(0, True), (10, True)]
    await client.put(f"/_sandbox/meta/accounts/{BAKERY_ACCOUNT_ID}/paging", json={})
    product_types = {
        m["media_product_type"]
        for m in (
            await get(client, f"/{BAKERY_ACCOUNT_ID}/media", token, fields="media_product_type", limit="100")
        ).json()["data"]
    }
    assert product_types == {"FEED", "REELS", "STORY"}


async def test_media_limit_is_honoured_and_capped(client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    await client.put(f"/_sandbox/meta/accounts/{BAKERY_ACCOUNT_ID}/paging", json={})
    assert len((await get(client, f"/{BAKERY_ACCOUNT_ID}/media", token, limit="7")).json()["data"]) == 7
    assert len((await get(client, f"/{BAKERY_ACCOUNT_ID}/media", token, limit="500")).json()["data"]) == 24
    assert error_of(await get(client, f"/{BAKERY_ACCOUNT_ID}/media", token, after="%%%")) == (100, None)


async def test_account_insights_time_series_shape(meta: MetaSandbox, client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    until = int(meta.now().timestamp())
    response = await get(
        client, f"/{BAKERY_ACCOUNT_ID}/insights", token, metric="reach,follower_count", period="day",
        since=str(until - 7 * DAY), until=str(until),
    )  # fmt: skip
    reach, followers = response.json()["data"]
    assert (reach["name"], reach["period"], followers["name"]) == ("reach", "day", "follower_count")
    assert len(reach["values"]) == 7
    assert all(isinstance(v["value"], int) and v["end_time"].endswith("T07:00:00+0000") for v in reach["values"])
    assert set(response.json()["paging"]) == {"previous", "next"}
    again = await get(
        client, f"/{BAKERY_ACCOUNT_ID}/insights", token, metric="reach", period="day",
        since=str(until - 7 * DAY), until=str(until),
    )  # fmt: skip
    assert again.json()["data"][0]["values"] == reach["values"], "stable numbers"


async def test_account_insights_total_value_shape_with_views(client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    response = await get(
        client, f"/{BAKERY_ACCOUNT_ID}/insights", token, metric="views,reach,accounts_engaged", period="day",
        metric_type="total_value",
    )  # fmt: skip
    assert [item["name"] for item in response.json()["data"]] == ["views", "reach", "accounts_engaged"]
    assert all(isinstance(item["total_value"]["value"], int) for item in response.json()["data"])
    broken_down = await get(
        client, f"/{BAKERY_ACCOUNT_ID}/insights", token, metric="views", period="day", metric_type="total_value",
        breakdown="media_product_type",
    )  # fmt: skip
    total = broken_down.json()["data"][0]["total_value"]
    (breakdown,) = total["breakdowns"]
    assert breakdown["dimension_keys"] == ["media_product_type"]
    assert sum(r["value"] for r in breakdown["results"]) == total["value"]


@pytest.mark.parametrize("removed", ["impressions", "plays", "video_views", "profile_views", "audience_gender_age"])
async def test_removed_metrics_answer_invalid_metric(client: httpx.AsyncClient, removed: str) -> None:
    token = await facebook_token(client)
    response = await get(client, f"/{BAKERY_ACCOUNT_ID}/insights", token, metric=f"reach,{removed}", period="day")
    assert response.status_code == 400
    assert error_of(response) == (100, None)
    assert response.json()["error"]["type"] == "OAuthException"
    assert response.json()["error"]["message"].startswith("(#100) metric[1] must be one of the following values: ")


async def test_account_insights_validation(meta: MetaSandbox, client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    path = f"/{BAKERY_ACCOUNT_ID}/insights"
    now = int(meta.now().timestamp())

    async def refused(**params: str) -> str:
        response = await get(client, path, token, **params)
        assert error_of(response) == (100, None), response.text
        return str(response.json()["error"]["message"])

    assert "metric_type=total_value" in await refused(metric="views", period="day")
    assert "period" in await refused(metric="reach,accounts_engaged", period="week")
    assert "period must be one of" in await refused(metric="reach", period="hour")
    assert "do not support period month" in await refused(metric="reach", period="month")
    assert "30 days" in await refused(metric="reach", period="day", since=str(now - 31 * DAY), until=str(now))
    assert "timeframe" in await refused(
        metric="engaged_audience_demographics", period="lifetime", metric_type="total_value", breakdown="age",
        timeframe="last_30_days",
    )  # fmt: skip
    assert "breakdown" in await refused(metric="follower_demographics", period="lifetime", metric_type="total_value")
    this_week = await get(
        client, path, token, metric="engaged_audience_demographics", period="lifetime", metric_type="total_value",
        breakdown="age", timeframe="this_week",
    )  # fmt: skip
    assert this_week.status_code == 200


async def test_a_metric_newer_than_the_requested_version_is_refused(client: httpx.AsyncClient) -> None:
    await client.put("/_sandbox/meta/versions", json={"accepted": ["v21.0", "v23.0"]})
    token = await facebook_token(client)
    params = {"access_token": token, "metric": "views", "period": "day", "metric_type": "total_value"}
    old = await client.get(f"/v21.0/{BAKERY_ACCOUNT_ID}/insights", params=params)
    assert error_of(old) == (100, None)
    assert (await client.get(f"/v23.0/{BAKERY_ACCOUNT_ID}/insights", params=params)).status_code == 200


async def test_demographics_lifetime_breakdowns_top_45(client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    results = {}
    for breakdown in ("age", "gender", "country", "city", "age,gender"):
        response = await get(
            client, f"/{BAKERY_ACCOUNT_ID}/insights", token, metric="follower_demographics", period="lifetime",
            metric_type="total_value", breakdown=breakdown,
        )  # fmt: skip
        (item,) = response.json()["data"]
        (found,) = item["total_value"]["breakdowns"]
        assert found["dimension_keys"] == breakdown.split(",")
        results[breakdown] = found["results"]
    assert {r["dimension_values"][0] for r in results["gender"]} <= {"F", "M", "U"}
    assert len(results["country"]) == len(results["city"]) == 45, "only the top 45"
    values = [r["value"] for r in results["city"]]
    assert values == sorted(values, reverse=True)
    assert all(len(r["dimension_values"]) == 2 for r in results["age,gender"])


async def test_small_account_has_no_follower_metrics_or_demographics(client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    path = f"/{TINY_ACCOUNT_ID}/insights"
    follower_count = await get(client, path, token, metric="follower_count", period="day")
    assert follower_count.json()["data"] == [], "missing data is an empty data set, not 0"
    online = await get(client, path, token, metric="online_followers,reach", period="lifetime")
    assert online.status_code == 400, "reach has no lifetime period"
    demographics = await get(
        client, path, token, metric="follower_demographics", period="lifetime", metric_type="total_value",
        breakdown="country",
    )  # fmt: skip
    assert demographics.json()["data"] == []
    assert (await get(client, path, token, metric="reach", period="day")).json()["data"] != []


async def test_media_insights_per_product_type(meta: MetaSandbox, client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    by_kind: dict[str, str] = {}
    for media_id in meta.account(BAKERY_ACCOUNT_ID).media_ids:
        media = meta.world.media[media_id]
        kind = "CAROUSEL_ALBUM" if media.media_type == "CAROUSEL_ALBUM" else media.product_type
        if media.insights_ready and not media.posted_before_conversion:
            by_kind.setdefault(kind, media_id)
    reel = await get(client, f"/{by_kind['REELS']}/insights", token, metric="ig_reels_avg_watch_time,views,reach")
    assert [item["name"] for item in reel.json()["data"]] == ["ig_reels_avg_watch_time", "views", "reach"]
    assert all(item["period"] == "lifetime" and "value" in item["values"][0] for item in reel.json()["data"])
    feed = await get(client, f"/{by_kind['FEED']}/insights", token, metric="ig_reels_avg_watch_time")
    assert error_of(feed) == (100, None)
    assert error_of(await get(client, f"/{by_kind['CAROUSEL_ALBUM']}/insights", token, metric="likes")) == (100, None)
    assert error_of(await get(client, f"/{by_kind['REELS']}/insights", token, metric="plays")) == (100, None)
    story = await get(client, f"/{by_kind['STORY']}/insights", token, metric="navigation",
                      breakdown="story_navigation_action_type")  # fmt: skip
    (navigation,) = story.json()["data"]
    assert navigation["total_value"]["breakdowns"][0]["dimension_keys"] == ["story_navigation_action_type"]


async def test_media_insights_edge_cases(meta: MetaSandbox, client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    account = meta.account(BAKERY_ACCOUNT_ID)
    pending = next(m for m in account.media_ids if not meta.world.media[m].insights_ready)
    before = next(m for m in account.media_ids if meta.world.media[m].posted_before_conversion)
    album = next(m for m in account.media_ids if meta.world.media[m].children)
    shy = next(m for m in account.story_ids if meta.world.media[m].viewers < 5)
    assert (await get(client, f"/{pending}/insights", token, metric="reach")).json() == {"data": []}
    converted = await get(client, f"/{before}/insights", token, metric="reach")
    assert error_of(converted) == (100, 2108006)
    assert converted.json()["error"]["error_user_title"] == "Media Posted Before Business Account Conversion"
    child = meta.world.media[album].children[0]
    assert error_of(await get(client, f"/{child}/insights", token, metric="reach"))[0] == 100
    few_viewers = await get(client, f"/{shy}/insights", token, metric="reach")
    assert error_of(few_viewers) == (10, None)
    assert few_viewers.json()["error"]["message"] == "(#10) Not enough viewers for the media to show insights"
    children = await get(client, f"/{album}", token, fields="id,children{id,media_type}")
    assert [c["id"] for c in children.json()["children"]["data"]] == meta.world.media[album].children


async def test_stories_expire_after_24_hours(meta: MetaSandbox, client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    stories = (await get(client, f"/{BAKERY_ACCOUNT_ID}/stories", token, fields="id,media_product_type")).json()
    assert {s["media_product_type"] for s in stories["data"]} == {"STORY"}
    live = next(s["id"] for s in stories["data"] if meta.world.media[s["id"]].viewers >= 5)
    assert (await get(client, f"/{live}/insights", token, metric="reach")).json()["data"] != []
    meta.clock.advance(DAY)
    token = await facebook_token(client)
    assert (await get(client, f"/{BAKERY_ACCOUNT_ID}/stories", token)).json()["data"] == []
    assert (await get(client, f"/{live}/insights", token, metric="reach")).json() == {"data": []}


async def test_a_story_can_be_expired_by_the_control_route(meta: MetaSandbox, client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    story = meta.account(BAKERY_ACCOUNT_ID).story_ids[-1]
    assert (await client.post(f"/_sandbox/meta/stories/{story}/expire")).json() == {"id": story}
    live = [s["id"] for s in (await get(client, f"/{BAKERY_ACCOUNT_ID}/stories", token)).json()["data"]]
    assert story not in live
    assert (await get(client, f"/{story}/insights", token, metric="reach")).json() == {"data": []}
    assert (await client.post(f"/_sandbox/meta/stories/{BAKERY_ACCOUNT_ID}/expire")).status_code == 404
    listed = (await client.get("/_sandbox/meta/tokens")).json()
    assert [t["access_token"] for t in listed if t["long_lived"]] == [token]


async def test_instagram_login_token_reads_its_own_account_only(client: httpx.AsyncClient) -> None:
    token = await instagram_token(client)
    assert (await get(client, "/me", token, fields="id")).json() == {"id": BAKERY_ACCOUNT_ID}
    insights = await get(client, "/me/insights", token, metric="reach", period="day")
    assert insights.json()["data"][0]["name"] == "reach"
    assert error_of(await get(client, f"/{BO_ACCOUNT_ID}", token)) == (100, 33)
    granted = (await get(client, "/me/permissions", token)).json()["data"]
    assert [p["permission"] for p in granted] == INSTAGRAM_SCOPES.split(",")


async def test_added_accounts_and_minted_tokens_for_benchmarks(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/_sandbox/meta/accounts", json={"count": 3, "followers_count": 500, "impressions_24h": 2, "media_count": 4}
    )
    assert created.status_code == 201
    first, *_rest = created.json()
    assert len(created.json()) == 3
    minted = await client.post("/_sandbox/meta/tokens", json={"login": "instagram", "subject_id": first["id"]})
    assert (minted.json()["kind"], minted.json()["expires_in"]) == ("instagram_user", 5_184_000)
    ig_token = minted.json()["access_token"]
    media = (await get(client, "/me/media", ig_token, limit="100")).json()["data"]
    assert len(media) == 5, "four posts and a story"
    fb = await client.post("/_sandbox/meta/tokens", json={"login": "facebook", "subject_id": first["facebook_user_id"]})
    pages = await get(client, "/me/accounts", fb.json()["access_token"], fields="instagram_business_account")
    assert pages.json()["data"] == [{"instagram_business_account": {"id": first["id"]}, "id": first["page_id"]}]
    await get(client, f"/{first['id']}", ig_token)
    budget = (await client.get("/_sandbox/meta/usage")).json()["accounts"][first["id"]]["budget"]
    assert budget == {"calls": 9600, "cputime": 9600, "time": 9600, "window_seconds": 86_400}, "4800 per impression"
    unknown = await client.post("/_sandbox/meta/tokens", json={"login": "facebook", "subject_id": first["id"]})
    assert unknown.status_code == 404


PUBLISHING_SCOPES = "instagram_basic,instagram_content_publish,pages_show_list"


async def container(client: httpx.AsyncClient, token: str, **params: str) -> httpx.Response:
    return await client.post(f"{V}/{BAKERY_ACCOUNT_ID}/media", data={"access_token": token, **params})


async def test_content_publishing_container_status_publish(meta: MetaSandbox, client: httpx.AsyncClient) -> None:
    token = await facebook_token(client, scope=PUBLISHING_SCOPES)
    image = (await container(client, token, image_url="https://cdn.example/a.jpg", caption="Fresh")).json()["id"]
    assert (await get(client, f"/{image}", token, fields="status_code")).json() == {"status_code": "FINISHED",
                                                                                     "id": image}  # fmt: skip
    published = await client.post(f"{V}/{BAKERY_ACCOUNT_ID}/media_publish", params={"access_token": token,
                                                                                   "creation_id": image})  # fmt: skip
    media_id = published.json()["id"]
    first = (await get(client, f"/{BAKERY_ACCOUNT_ID}/media", token, fields="caption", limit="1")).json()["data"]
    assert first == [{"caption": "Fresh", "id": media_id}], "the new post leads the media list"
    assert (await get(client, f"/{image}", token, fields="status_code")).json()["status_code"] == "PUBLISHED"
    limit = (await get(client, f"/{BAKERY_ACCOUNT_ID}/content_publishing_limit", token)).json()
    assert limit == {"data": [{"quota_usage": 1, "config": {"quota_total": 100, "quota_duration": 86_400}}]}
    again = await client.post(f"{V}/{BAKERY_ACCOUNT_ID}/media_publish", params={"access_token": token,
                                                                               "creation_id": image})  # fmt: skip
    assert error_of(again) == (9007, 2207027), "a published container is not publishable again"


async def test_reels_need_processing_time_and_failures_show_in_the_status(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    token = await facebook_token(client, scope=PUBLISHING_SCOPES)
    reel = (await container(client, token, video_url="https://cdn.example/r.mp4", media_type="REELS")).json()["id"]
    assert (await get(client, f"/{reel}", token, fields="status_code")).json()["status_code"] == "IN_PROGRESS"
    early = await client.post(f"{V}/{BAKERY_ACCOUNT_ID}/media_publish", data={"access_token": token,
                                                                             "creation_id": reel})  # fmt: skip
    assert error_of(early) == (9007, 2207027)
    meta.clock.advance(30)
    assert (await get(client, f"/{reel}", token, fields="status_code")).json()["status_code"] == "FINISHED"
    broken = (await container(client, token, image_url="https://cdn.example/corrupt.jpg")).json()["id"]
    assert (await get(client, f"/{broken}", token, fields="status_code,status")).json()["status_code"] == "ERROR"
    assert error_of(await container(client, token, image_url="http://cdn.example/a.jpg")) == (9004, 2207052)
    assert error_of(await container(client, token, caption="no media"))[0] == 100
    meta.clock.advance(24 * 3600)
    token = await facebook_token(client, scope=PUBLISHING_SCOPES)
    assert (await get(client, f"/{reel}", token, fields="status_code")).json()["status_code"] == "EXPIRED"


async def test_publishing_limit_and_permission(meta: MetaSandbox, client: httpx.AsyncClient) -> None:
    reader = await facebook_token(client)
    assert error_of(await container(client, reader, image_url="https://cdn.example/a.jpg")) == (10, None)
    token = await facebook_token(client, scope=PUBLISHING_SCOPES)
    meta.publisher.quota_total = 1
    for expected in ((200, None), (400, (9, 2207042))):
        image = (await container(client, token, image_url="https://cdn.example/a.jpg")).json()["id"]
        answer = await client.post(f"{V}/{BAKERY_ACCOUNT_ID}/media_publish", data={"access_token": token,
                                                                                  "creation_id": image})  # fmt: skip
        assert (answer.status_code, None if answer.status_code == 200 else error_of(answer)) == expected
    meta.clock.advance(24 * 3600)
    token = await facebook_token(client, scope=PUBLISHING_SCOPES)
    image = (await container(client, token, image_url="https://cdn.example/b.jpg")).json()["id"]
    later = await client.post(f"{V}/{BAKERY_ACCOUNT_ID}/media_publish", data={"access_token": token,
                                                                             "creation_id": image})  # fmt: skip
    assert later.status_code == 200, "the quota window rolled on"


async def test_batch_runs_each_request_as_a_call_of_its_own_up_to_50(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    token = await facebook_token(client)
    batch = [
        {"method": "GET", "relative_url": f"v23.0/{BAKERY_ACCOUNT_ID}?fields=id,followers_count"},
        {"method": "GET", "relative_url": f"v23.0/{BAKERY_ACCOUNT_ID}/insights?metric=impressions&period=day"},
    ]
    answer = await client.post("/", data={"access_token": token, "batch": json.dumps(batch)})
    profile, removed = answer.json()
    assert (profile["code"], removed["code"]) == (200, 400)
    CHECK.check("ig-user.read", json.loads(profile["body"]), "batch[0]")
    CHECK.check("error", json.loads(removed["body"]), "batch[1]")
    assert "x-business-use-case-usage" in {header["name"].lower() for header in profile["headers"]}
    assert meta.budgets.accounts[BAKERY_ACCOUNT_ID].calls == 2, "each sub-request is a call"
    too_many = await client.post("/", data={"access_token": token, "batch": json.dumps(batch * 26)})
    assert too_many.json()["error"]["type"] == "GraphBatchException"
    assert too_many.json()["error"]["message"] == "Maximum batch size is 50"


# -- API versions --------------------------------------------------------------------------------


async def test_version_prefix_is_optional_and_only_accepted_versions_answer(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    token = await facebook_token(client)
    assert (await client.get(f"/{BAKERY_ACCOUNT_ID}", params={"access_token": token})).status_code == 200
    assert (await client.get(f"/v26.0/{BAKERY_ACCOUNT_ID}", params={"access_token": token})).status_code == 200
    assert error_of(await client.get(f"/v99.0/{BAKERY_ACCOUNT_ID}", params={"access_token": token}))[0] == 2500
    expired = await client.get(f"/v19.0/{BAKERY_ACCOUNT_ID}", params={"access_token": token})
    assert expired.status_code == 200, "a version no longer usable is served by the next oldest usable one"
    await client.put("/_sandbox/meta/versions", json={"accepted": ["v24.0"]})
    views = {"access_token": token, "metric": "views", "period": "day", "metric_type": "total_value"}
    assert (await client.get(f"/v21.0/{BAKERY_ACCOUNT_ID}/insights", params=views)).status_code == 200, "as v24.0"
    assert error_of(await client.get(f"/v25.0/{BAKERY_ACCOUNT_ID}", params={"access_token": token}))[0] == 2500
    logged = [r.path for r in meta.app.requests.records(path_prefix="/v2")]
    assert f"/v26.0/{BAKERY_ACCOUNT_ID}" in logged, "the request log keeps the version the client sent"
    unknown_edge = await client.get(f"/{BAKERY_ACCOUNT_ID}/nonsense", params={"access_token": token})
    assert error_of(unknown_edge) == (2500, None)
    assert error_of(await client.get(f"/v24.0/{BAKERY_ACCOUNT_ID}/media/extra")) == (2500, None)


# -- budgets and throttling ---------------------------------------------------------------------


def usage_of(response: httpx.Response, account_id: str = BAKERY_ACCOUNT_ID) -> dict[str, int]:
    (entry,) = json.loads(response.headers["X-Business-Use-Case-Usage"])[account_id]
    assert entry["type"] == "instagram"
    return dict(entry)


async def test_every_graph_response_carries_usage_headers(client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    await client.put(f"/_sandbox/meta/budgets/{BAKERY_ACCOUNT_ID}", json={"calls": 10, "cputime": 100, "time": 100})
    profile = await get(client, f"/{BAKERY_ACCOUNT_ID}", token)
    assert usage_of(profile) == {"type": "instagram", "call_count": 10, "total_cputime": 1, "total_time": 1,
                                 "estimated_time_to_regain_access": 0}  # fmt: skip
    failed = await get(client, f"/{BAKERY_ACCOUNT_ID}/insights", token, metric="impressions", period="day")
    assert failed.status_code == 400
    assert usage_of(failed)["call_count"] == 20, "a refused request is still a call"
    assert usage_of(failed)["total_cputime"] == 3, "insights cost more CPU than a profile read"
    assert set(json.loads(profile.headers["X-App-Usage"])) == {"call_count", "total_cputime", "total_time"}
    pages = await get(client, "/me/accounts", token)
    assert "X-App-Usage" in pages.headers
    assert "X-Business-Use-Case-Usage" not in pages.headers, "no account in question"


async def test_usage_headers_can_be_left_out_at_low_volume(client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    await client.put("/_sandbox/meta/usage-headers", json={"from_percent": 50})
    await client.put(f"/_sandbox/meta/budgets/{BAKERY_ACCOUNT_ID}", json={"calls": 4})
    quiet = await get(client, f"/{BAKERY_ACCOUNT_ID}", token)
    assert "X-Business-Use-Case-Usage" not in quiet.headers
    assert "X-App-Usage" not in quiet.headers
    busy = await get(client, f"/{BAKERY_ACCOUNT_ID}", token)
    assert usage_of(busy)["call_count"] == 50


async def test_usage_can_be_set_near_the_ceiling_of_a_real_sized_budget(client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    state = await client.put(f"/_sandbox/meta/budgets/{BAKERY_ACCOUNT_ID}", json={"usage_percent": 99})
    assert (state.json()["call_count"], state.json()["budget"]["calls"]) == (99, 4800 * 2400)
    near = await get(client, f"/{BAKERY_ACCOUNT_ID}", token)
    assert near.status_code == 200
    assert usage_of(near)["call_count"] == 99


async def test_over_budget_calls_are_throttled_and_calls_while_blocked_extend_the_block(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    token = await facebook_token(client)
    budget = {"calls": 3, "window_seconds": 3600, "block_extension_seconds": 300}
    await client.put(f"/_sandbox/meta/budgets/{BAKERY_ACCOUNT_ID}", json=budget)
    answers = [await get(client, f"/{BAKERY_ACCOUNT_ID}", token) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert usage_of(answers[-1])["call_count"] == 100
    assert usage_of(answers[-1])["estimated_time_to_regain_access"] == 60, "at 100 % the wait shows before a refusal"
    meta.clock.advance(600)
    throttled = await get(client, f"/{BAKERY_ACCOUNT_ID}", token)
    assert error_of(throttled) == (80002, None)
    assert throttled.json()["error"]["is_transient"] is True
    assert "too many calls to this Instagram account" in throttled.json()["error"]["message"]
    assert usage_of(throttled)["call_count"] == 100
    assert usage_of(throttled)["estimated_time_to_regain_access"] == 50, "the window rolls off 50 minutes later"
    again = await get(client, f"/{BAKERY_ACCOUNT_ID}", token)
    assert usage_of(again)["estimated_time_to_regain_access"] == 55, "calling while throttled extends the block"
    other = await get(client, f"/{TINY_ACCOUNT_ID}", token)
    assert other.status_code == 200, "budgets are per account"
    meta.clock.advance(55 * 60)
    assert (await get(client, f"/{BAKERY_ACCOUNT_ID}", token)).status_code == 200, "the budget refilled"
    usage = (await client.get("/_sandbox/meta/usage")).json()["accounts"][BAKERY_ACCOUNT_ID]
    assert (usage["calls"], usage["refused"], usage["refused_while_blocked"]) == (4, 2, 1)


@pytest.mark.parametrize("code", [17, 32, 613, 80002])
async def test_scripted_account_throttle_codes(meta: MetaSandbox, client: httpx.AsyncClient, code: int) -> None:
    token = await facebook_token(client)
    block = {"code": code, "minutes": 10, "account_id": BAKERY_ACCOUNT_ID}
    assert (await client.post("/_sandbox/meta/throttle", json=block)).status_code == 200
    throttled = await get(client, f"/{BAKERY_ACCOUNT_ID}/media", token)
    assert error_of(throttled) == (code, None)
    assert throttled.json()["error"]["message"].startswith(f"(#{code}) ")
    assert usage_of(throttled)["estimated_time_to_regain_access"] == 11, "10 minutes, plus one for calling"
    meta.clock.advance(11 * 60)
    assert (await get(client, f"/{BAKERY_ACCOUNT_ID}/media", token)).status_code == 200


async def test_app_throttle_blocks_every_account(meta: MetaSandbox, client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    refused = await client.post("/_sandbox/meta/throttle", json={"code": 4, "minutes": 5, "account_id": BO_ACCOUNT_ID})
    assert refused.status_code == 422
    await client.post("/_sandbox/meta/throttle", json={"code": 4, "minutes": 5})
    for account in (BAKERY_ACCOUNT_ID, TINY_ACCOUNT_ID):
        assert error_of(await get(client, f"/{account}", token)) == (4, None)
    await client.put("/_sandbox/meta/budgets/app", json={"calls": 2})
    meta.clock.advance(3600)
    assert [(await get(client, "/me", token)).status_code for _ in range(3)] == [200, 200, 400]


# -- webhooks --------------------------------------------------------------------------------------


@dataclass
class Receiver:
    verify_token: str = "verify-me"
    received: list[tuple[bytes, str | None]] = field(default_factory=list)

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.get("/webhooks/instagram")
        async def handshake(request: Request) -> Response:
            params = request.query_params
            if params.get("hub.mode") == "subscribe" and params.get("hub.verify_token") == self.verify_token:
                return Response(params["hub.challenge"], media_type="text/plain")
            return Response(status_code=403)

        @api.post("/webhooks/instagram")
        async def event(request: Request) -> Response:
            self.received.append((await request.body(), request.headers.get(SIGNATURE_HEADER)))
            return Response(status_code=200)

        return api


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hooks = Receiver()
    async with serve_in_background(hooks.app()) as url:
        yield hooks, f"{url}/webhooks/instagram"


async def test_subscription_is_verified_with_the_hub_challenge(
    client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    _hooks, hook_url = receiver
    wrong = await client.post("/_sandbox/meta/webhooks/subscribe", json={"callback_url": hook_url, "verify_token": "x"})
    assert (wrong.json()["verified"], wrong.json()["status"]) == (False, 403)
    no_subscription = await client.post("/_sandbox/meta/webhooks/story-insights", json={"media_id": "1"})
    assert no_subscription.status_code in (404, 409)
    right = await client.post(
        "/_sandbox/meta/webhooks/subscribe", json={"callback_url": hook_url, "verify_token": "verify-me"}
    )
    assert right.json()["verified"] is True
    assert right.json()["body"] == right.json()["challenge"]


async def test_story_insights_webhook_is_signed_over_the_raw_body_and_can_be_redelivered(
    meta: MetaSandbox, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    hooks, hook_url = receiver
    await client.post("/_sandbox/meta/webhooks/subscribe", json={"callback_url": hook_url, "verify_token": "verify-me"})
    story = meta.account(BAKERY_ACCOUNT_ID).story_ids[-1]
    sent = await client.post("/_sandbox/meta/webhooks/story-insights", json={"media_id": story})
    assert sent.json()["attempts"][0]["status"] == 200
    body, signature = hooks.received[0]
    assert signature == "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    CHECK.check("webhook.story-insights", payload, "story_insights webhook")
    (entry,) = payload["entry"]
    assert (payload["object"], entry["id"], entry["changes"][0]["field"]) == ("instagram", BAKERY_ACCOUNT_ID,
                                                                              "story_insights")  # fmt: skip
    assert entry["changes"][0]["value"]["media_id"] == story
    await client.post(f"/_sandbox/meta/webhooks/deliveries/{sent.json()['id']}/redeliver")
    assert hooks.received[1] == hooks.received[0], "a redelivery is byte for byte the same"
    forge = {"media_id": story, "signature": "sha256=00"}
    forged = await client.post("/_sandbox/meta/webhooks/story-insights", json=forge)
    assert hooks.received[2][1] == "sha256=00"
    assert len((await client.get("/_sandbox/meta/webhooks/deliveries")).json()) == 2
    assert forged.json()["signature"] == "sha256=00"


async def test_story_insights_webhook_comes_when_a_subscribed_accounts_stories_expire(
    meta: MetaSandbox, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    hooks, hook_url = receiver
    await client.post("/_sandbox/meta/webhooks/subscribe", json={"callback_url": hook_url, "verify_token": "verify-me"})
    token = await facebook_token(client)
    subscribe = await client.post(
        f"{V}/{BAKERY_PAGE_ID}/subscribed_apps", params={"access_token": token, "subscribed_fields": "story_insights"}
    )
    assert subscribe.json() == {"success": True}
    listed = (await get(client, f"/{BAKERY_PAGE_ID}/subscribed_apps", token)).json()["data"]
    assert listed == [{"id": APP_ID, "subscribed_fields": ["story_insights"]}]
    assert await meta.flush_webhooks() == 0, "no story has expired yet"
    meta.clock.advance(DAY)

    async def both_stories_reported() -> bool:
        media_ids = [json.loads(body)["entry"][0]["changes"][0]["value"]["media_id"] for body, _ in hooks.received]
        return sorted(media_ids) == sorted(meta.account(BAKERY_ACCOUNT_ID).story_ids)

    await eventually(both_stories_reported, timeout=30, what="story_insights webhooks on expiry")
    assert await meta.flush_webhooks() == 0, "each story once"
    unsubscribed = await get(client, f"/{TINY_ACCOUNT_ID}/subscribed_apps", token)
    assert unsubscribed.json() == {"data": []}, "the tiny shop's stories expired too, but it is not subscribed"


async def test_appsecret_proof_is_checked_when_sent_and_can_be_required(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    token = await facebook_token(client)
    proof = hmac.new(APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()
    assert (await get(client, "/me", token, appsecret_proof=proof)).status_code == 200
    assert error_of(await get(client, "/me", token, appsecret_proof="0" * 64)) == (100, None)
    meta.require_appsecret_proof = True
    assert error_of(await get(client, "/me", token)) == (100, None)
    assert (await get(client, "/me", token, appsecret_proof=proof)).status_code == 200


async def test_transient_and_server_errors_are_scripted_with_the_framework_faults(client: httpx.AsyncClient) -> None:
    token = await facebook_token(client)
    transient = {"error": {"message": "An unexpected error has occurred.", "type": "OAuthException", "code": 2,
                           "is_transient": True, "fbtrace_id": "Afault"}}  # fmt: skip
    fault = {"kind": "status", "status": 500, "path_prefix": f"{V}/{BAKERY_ACCOUNT_ID}", "times": 1, "body": transient}
    assert (await client.post("/_sandbox/faults", json=fault)).status_code == 201
    failed = await get(client, f"/{BAKERY_ACCOUNT_ID}", token)
    assert (failed.status_code, error_of(failed)) == (500, (2, None))
    assert (await get(client, f"/{BAKERY_ACCOUNT_ID}", token)).status_code == 200
    page = {"kind": "status", "status": 502, "path_prefix": V, "times": 1, "text": "<html>Bad Gateway</html>"}
    await client.post("/_sandbox/faults", json=page)
    proxy = await get(client, f"/{BAKERY_ACCOUNT_ID}", token)
    assert (proxy.status_code, proxy.text) == (502, "<html>Bad Gateway</html>"), "HTTP 5xx with a body that is not JSON"


async def test_a_configured_webhook_subscription_is_verified_once_the_callback_answers(
    receiver: tuple[Receiver, str],
) -> None:
    _hooks, hook_url = receiver
    meta = create_meta_sandbox(app_id=APP_ID, app_secret=APP_SECRET, webhook_subscription=(hook_url, "verify-me"))
    async with serve_in_background(meta.app):

        async def verified() -> bool:
            return meta.webhooks.callback_url == hook_url

        await eventually(verified, timeout=30, what="the make-run webhook subscription")


# -- operation --------------------------------------------------------------------------------------


async def test_reset_restores_the_fixture_and_forgets_tokens_and_budgets(
    meta: MetaSandbox, client: httpx.AsyncClient
) -> None:
    token = await facebook_token(client)
    await client.put(f"/_sandbox/meta/budgets/{BAKERY_ACCOUNT_ID}", json={"calls": 1})
    await client.put("/_sandbox/meta/login", json={"cancel": True})
    assert (await client.post("/_sandbox/reset")).status_code == 204
    assert error_of(await get(client, "/me", token)) == (190, None)
    assert meta.budgets.accounts == {}
    assert meta.next_login.cancel is False
    world = (await client.get("/_sandbox/meta/world")).json()
    assert [a["id"] for a in world["accounts"]] == [BAKERY_ACCOUNT_ID, TINY_ACCOUNT_ID, BO_ACCOUNT_ID,
                                                    CREATOR_ACCOUNT_ID]  # fmt: skip


def test_build_sandbox_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    default = meta_main.build_sandbox({})
    assert meta_main.port({}) == 8103
    assert (default.app_id, default.app_secret) == ("meta-dev-app", "meta-dev-app-secret")
    assert default.webhook_subscription == ("http://127.0.0.1:8004/webhooks/instagram", "meta-dev-verify-token")
    assert meta_main.build_sandbox({"META_SANDBOX_WEBHOOK_URL": ""}).webhook_subscription is None
    custom = meta_main.build_sandbox(
        {"META_APP_ID": "a", "META_APP_SECRET": "b", "META_SANDBOX_VERSIONS": "v24.0, v25.0"}
    )
    assert (custom.app_id, custom.app_secret, custom.versions) == ("a", "b", ("v24.0", "v25.0"))
    assert served_by_run(meta_main, monkeypatch, "META_SANDBOX_PORT", 9113) == (9113, "meta")


async def test_console_script_starts_and_answers_healthz() -> None:
    """`make run` starts `meta-sandbox` once a service declares it (instagram-sync: META_GRAPH_API_BASE)."""
    async with console_script_served(
        "meta-sandbox", "intplat_sandboxes.meta.main", "META_SANDBOX_PORT", META_SANDBOX_WEBHOOK_URL=""
    ) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok", "sandbox": "meta"}
        assert (await http.get("/v23.0/me")).json()["error"]["code"] == 104
