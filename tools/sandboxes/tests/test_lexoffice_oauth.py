"""The Lexoffice sandbox's OAuth2 authorization server over a real socket: the code flow, rotating refresh tokens,
access tokens that expire on the sandbox clock, and the strict limits of the token endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from intplat_sandboxes.framework import SandboxClock, serve_in_background
from intplat_sandboxes.lexoffice import (
    DEV_CLIENT_ID,
    DEV_CLIENT_SECRET,
    LexofficeSandbox,
    OAuthServerConfig,
    create_lexoffice_sandbox,
)
from intplat_sandboxes.lexoffice import main as lexoffice_main

CLIENT_ID, CLIENT_SECRET = "partner-app", "partner-secret"
REDIRECT = "https://bridge.example/v1/lexoffice/callback"


class FrozenClock(SandboxClock):
    """Time moves only with `advance`: the token bucket cannot refill on a slow machine."""

    def __init__(self) -> None:
        super().__init__()
        self._start = datetime.now(UTC)

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.offset_seconds)


def sandbox(**config: Any) -> LexofficeSandbox:
    oauth = OAuthServerConfig(clients={CLIENT_ID: CLIENT_SECRET}, **config)
    return create_lexoffice_sandbox(api_keys=["api-key"], clock=FrozenClock(), burst=100_000, oauth=oauth)


@pytest.fixture
async def served() -> AsyncIterator[tuple[LexofficeSandbox, httpx.AsyncClient]]:
    lx = sandbox(access_token_ttl=600, token_burst=100)
    async with serve_in_background(lx.app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield lx, http


async def authorize(http: httpx.AsyncClient, state: str = "s-1") -> str:
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code", "state": state}
    answer = await http.get("/api/oauth2/authorize", params=params)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert query["state"] == [state]
    return query["code"][0]


async def token(http: httpx.AsyncClient, secret: str = CLIENT_SECRET, **form: str) -> httpx.Response:
    return await http.post("/api/oauth2/token", data=form, auth=(CLIENT_ID, secret))


async def exchange(http: httpx.AsyncClient, code: str) -> httpx.Response:
    return await token(http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)


async def test_the_code_flow_gives_tokens_the_api_accepts_and_a_code_works_once(served) -> None:
    lx, http = served
    code = await authorize(http)
    answer = await exchange(http, code)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 600 and tokens["refresh_token"]
    profile = await http.get("/v1/profile", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert profile.status_code == 200

    again = await exchange(http, code)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    (connection,) = lx.oauth.connections
    assert lx.access.requests_per_key[connection] == 1, "the API counts an access token as its connection"


async def test_a_wrong_client_secret_redirect_or_grant_is_refused(served) -> None:
    _, http = served
    code = await authorize(http)
    wrong_secret = await token(http, secret="nope", grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    wrong_redirect = await token(http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT + "x")
    assert (wrong_redirect.status_code, wrong_redirect.json()["error"]) == (400, "invalid_grant")
    unknown = await token(http, grant_type="client_credentials")
    assert (unknown.status_code, unknown.json()["error"]) == (400, "unsupported_grant_type")
    bad_client = await http.get("/api/oauth2/authorize", params={"client_id": "x", "redirect_uri": REDIRECT})
    assert bad_client.status_code == 400


async def test_access_tokens_expire_on_the_sandbox_clock_and_refresh_tokens_rotate(served) -> None:
    lx, http = served
    tokens = (await exchange(http, await authorize(http))).json()
    lx.clock.advance(601)
    expired = await http.get("/v1/profile", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert (expired.status_code, expired.json()) == (401, {"message": "Unauthorized"})

    refreshed = await token(http, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    fresh = refreshed.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    ok = await http.get("/v1/profile", headers={"Authorization": f"Bearer {fresh['access_token']}"})
    assert ok.status_code == 200
    reused = await token(http, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert lx.oauth.token_requests == {"authorization_code": 1, "refresh_token": 2}


async def test_a_revoked_connection_loses_its_tokens_and_fires_token_revoked(served) -> None:
    lx, http = served
    tokens = (await exchange(http, await authorize(http))).json()
    (connection,) = lx.oauth.connections
    revoked = await http.post(f"/_sandbox/lexoffice/connections/{connection}/revoke")
    assert revoked.status_code == 204
    refused = await http.get("/v1/profile", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert refused.status_code == 401
    again = await token(http, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    subscribed = await http.post(
        "/v1/event-subscriptions",
        json={"eventType": "token.revoked", "callbackUrl": "http://127.0.0.1:9/hook"},
        headers={"Authorization": "Bearer api-key"},
    )
    assert subscribed.status_code == 201
    assert lx.emit("token.revoked", connection) == 1


async def test_the_token_endpoint_blocks_a_client_beyond_its_limit_and_for_good_when_it_keeps_trying() -> None:
    lx = sandbox(token_rate_per_second=0.1, token_burst=2, block_seconds=30, permanent_after=3)
    async with serve_in_background(lx.app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        tokens = (await exchange(http, await authorize(http))).json()
        refresh = tokens["refresh_token"]
        first = await token(http, grant_type="refresh_token", refresh_token=refresh)
        assert first.status_code == 200
        refresh = first.json()["refresh_token"]
        limited = await token(http, grant_type="refresh_token", refresh_token=refresh)
        assert (limited.status_code, limited.json()["error"]) == (429, "too_many_requests")

        lx.clock.advance(20)  # the bucket has refilled, but the block lasts 30 s from the refusal
        assert (await token(http, grant_type="refresh_token", refresh_token=refresh)).status_code == 429
        lx.clock.advance(31)
        after_block = await token(http, grant_type="refresh_token", refresh_token=refresh)
        assert after_block.status_code == 200, "the refused requests changed nothing: the refresh token still works"

        refresh = after_block.json()["refresh_token"]
        statuses = []
        for _ in range(5):  # hammering on through the block
            answer = await token(http, grant_type="refresh_token", refresh_token=refresh)
            statuses.append(answer.status_code)
            refresh = answer.json().get("refresh_token", refresh)
        assert statuses == [200, 429, 429, 429, 429]
        lx.clock.advance(3600)
        assert (await token(http, grant_type="refresh_token", refresh_token=refresh)).status_code == 429
        assert lx.oauth.blocked_for_good == {CLIENT_ID}


def test_make_run_configures_the_partner_client_from_the_bridges_variables() -> None:
    configured = lexoffice_main.build_sandbox(
        {"LEXOFFICE_OAUTH_CLIENT_ID": "app", "LEXOFFICE_OAUTH_CLIENT_SECRET": "s"}
    )
    assert configured.oauth.config.clients == {"app": "s"}
    assert lexoffice_main.build_sandbox({}).oauth.config.clients == {DEV_CLIENT_ID: DEV_CLIENT_SECRET}
