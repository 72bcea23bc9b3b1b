"""The resilient client against a real HTTP server (a sandbox) on a real socket."""

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from intplat_sandboxes.framework import (
    CommitThenStatusFault,
    ResetFault,
    SandboxApp,
    StatusFault,
    create_sandbox_app,
    serve_in_background,
)

from intplat_common import (
    CORRELATION_HEADER,
    AmbiguousOutcome,
    BearerToken,
    ProviderConfig,
    ProviderError,
    ResilientClient,
    parse_retry_after,
    redact_url,
    set_correlation_id,
)


def provider() -> SandboxApp:
    app = create_sandbox_app("widgets")
    store: dict[str, Any] = {}
    router = APIRouter()

    @router.post("/v1/widgets", status_code=201)
    async def create(request: Request) -> dict[str, Any]:
        body = await request.json()
        store[body["name"]] = body
        return {"created": body["name"], "count": len(store)}

    @router.get("/v1/widgets")
    async def list_widgets() -> dict[str, Any]:
        return {"names": sorted(store)}

    app.include_router(router)
    app.on_reset(store.clear)
    return app


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[SandboxApp, str]]:
    app = provider()
    async with serve_in_background(app) as base_url:
        yield app, base_url


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(base_url: str, sleeps: Sleeps | None = None, **config: Any) -> ResilientClient:
    return ResilientClient(
        ProviderConfig(name="widgets", base_url=base_url, timeout=2, **config),
        sleep=sleeps or Sleeps(),
    )


async def test_get_retries_5xx_then_succeeds(sandbox) -> None:
    app, base_url = sandbox
    app.faults.add(StatusFault(status=503, times=2))
    sleeps = Sleeps()
    async with client(base_url, sleeps) as c:
        response = await c.request("GET", "/v1/widgets")
    assert response.status_code == 200
    assert len(app.requests.records(path_prefix="/v1/widgets")) == 3
    assert len(sleeps.waits) == 2


async def test_retry_after_is_honoured_on_429(sandbox) -> None:
    app, base_url = sandbox
    app.faults.add(StatusFault(status=429, retry_after=7, times=1))
    sleeps = Sleeps()
    async with client(base_url, sleeps) as c:
        response = await c.request("POST", "/v1/widgets", json={"name": "a"})
    assert response.status_code == 201
    assert sleeps.waits == [7.0], "the wait is the provider's Retry-After, not our backoff"


async def test_retry_after_beyond_the_cap_is_not_waited_for(sandbox) -> None:
    app, base_url = sandbox
    app.faults.add(StatusFault(status=429, retry_after=3600, times=1))
    sleeps = Sleeps()
    async with client(base_url, sleeps, retry_after_cap=60) as c:
        with pytest.raises(ProviderError) as info:
            await c.request("GET", "/v1/widgets")
    assert info.value.response is not None and info.value.response.status_code == 429
    assert sleeps.waits == []


async def test_post_is_not_retried_after_a_5xx(sandbox) -> None:
    app, base_url = sandbox
    app.faults.add(StatusFault(status=500, times=1))
    async with client(base_url) as c:
        with pytest.raises(ProviderError):
            await c.request("POST", "/v1/widgets", json={"name": "a"})
    assert len(app.requests.records(method="POST")) == 1


async def test_post_dropped_after_commit_is_ambiguous_not_retried(sandbox) -> None:
    app, base_url = sandbox
    app.faults.add(CommitThenStatusFault(status=504, times=1))
    async with client(base_url) as c:
        with pytest.raises(AmbiguousOutcome):
            await c.request("POST", "/v1/widgets", json={"name": "a"})
        listed = await c.request("GET", "/v1/widgets")
    assert listed.json() == {"names": ["a"]}, "the provider did act: a blind retry would duplicate it"
    assert len(app.requests.records(method="POST")) == 1


async def test_post_with_idempotency_key_may_be_retried_after_a_reset(sandbox) -> None:
    app, base_url = sandbox
    app.faults.add(ResetFault(times=1))
    async with client(base_url) as c:
        response = await c.request(
            "POST",
            "/v1/widgets",
            json={"name": "b"},
            idempotent=True,
            headers={"Idempotency-Key": "k-1"},
        )
    assert response.status_code == 201
    posts = app.requests.records(method="POST")
    assert len(posts) == 2
    assert all(r.headers.get("idempotency-key") == "k-1" for r in posts)


async def test_connection_refused_is_retried_then_reported() -> None:
    sleeps = Sleeps()
    async with client("http://127.0.0.1:9", sleeps, max_attempts=3) as c:
        with pytest.raises(ProviderError, match="ConnectError"):
            await c.request("POST", "/v1/widgets", json={"name": "a"})
    assert len(sleeps.waits) == 2, "nothing reached the provider, so even a POST is retried"


async def test_4xx_is_returned_to_the_caller(sandbox) -> None:
    app, base_url = sandbox
    app.faults.add(StatusFault(status=422, body={"message": "name missing"}, times=1))
    async with client(base_url) as c:
        response = await c.request("POST", "/v1/widgets", json={})
    assert response.status_code == 422
    assert response.json() == {"message": "name missing"}


async def test_correlation_id_is_sent_and_one_redacted_log_line_per_call(sandbox, caplog) -> None:
    app, base_url = sandbox
    caplog.set_level(logging.INFO, logger="intplat.http")
    set_correlation_id("corr-123")
    async with client(base_url) as c:
        await c.request("GET", "/v1/widgets", params={"access_token": "EAAB-secret", "page": "2"})
    record = app.requests.records()[0]
    assert record.headers.get(CORRELATION_HEADER.lower()) == "corr-123"
    lines = [r for r in caplog.records if r.name == "intplat.http"]
    assert len(lines) == 1
    fields = lines[0].fields
    assert fields["provider"] == "widgets"
    assert fields["status"] == 200
    assert "EAAB-secret" not in json.dumps(fields)
    assert "access_token=***" in fields["url"]
    assert "page=2" in fields["url"]


async def test_rate_limiter_spaces_calls(sandbox) -> None:
    import time

    _, base_url = sandbox
    async with client(base_url, rate_limit_per_second=10, rate_limit_burst=1) as c:
        started = time.monotonic()
        for _ in range(4):
            await c.request("GET", "/v1/widgets")
        elapsed = time.monotonic() - started
    assert elapsed >= 0.3, "4 calls at 10/s with burst 1 need at least 0.3 s"


async def test_a_given_limiter_paces_every_attempt(sandbox) -> None:
    """A limiter shared across processes (e.g. `PgTokenBucket`) replaces the in-process one, retries included."""
    app, base_url = sandbox
    acquired: list[int] = []

    class Shared:
        async def acquire(self) -> None:
            acquired.append(1)

    app.faults.add(StatusFault(status=503, times=1))
    config = ProviderConfig(name="widgets", base_url=base_url, timeout=2, rate_limit_per_second=0.001)
    async with ResilientClient(config, sleep=Sleeps(), limiter=Shared()) as c:
        assert (await c.request("GET", "/v1/widgets")).status_code == 200
    assert len(acquired) == 2, "the 503 and the retry; the config's own 0.001/s limiter is not used"


class RotatingToken:
    """Hands out `token-1`, then `token-2` after a 401 (as a refreshed OAuth token would be)."""

    def __init__(self) -> None:
        self.current = 1
        self.refused_headers: list[str] = []

    async def header(self) -> str:
        return f"Bearer token-{self.current}"

    async def refused(self, header: str) -> bool:
        self.refused_headers.append(header)
        self.current += 1
        return True


async def test_a_401_asks_the_authorization_once_and_sends_the_call_again(sandbox) -> None:
    app, base_url = sandbox
    app.faults.add(StatusFault(status=401, times=1))
    auth = RotatingToken()
    config = ProviderConfig(name="widgets", base_url=base_url, timeout=2)
    async with ResilientClient(config, sleep=Sleeps(), authorization=auth) as c:
        response = await c.request("POST", "/v1/widgets", json={"name": "a"})
    assert response.status_code == 201
    assert response.request.headers["Authorization"] == "Bearer token-2"
    assert auth.refused_headers == ["Bearer token-1"]
    assert len(app.requests.records(path_prefix="/v1/widgets")) == 2


async def test_a_second_401_is_the_callers_not_a_loop(sandbox) -> None:
    app, base_url = sandbox
    app.faults.add(StatusFault(status=401, times=5))
    auth = RotatingToken()
    config = ProviderConfig(name="widgets", base_url=base_url, timeout=2)
    async with ResilientClient(config, sleep=Sleeps(), authorization=auth) as c:
        response = await c.request("GET", "/v1/widgets")
    assert response.status_code == 401
    assert auth.refused_headers == ["Bearer token-1"], "one refresh per call"
    assert len(app.requests.records(path_prefix="/v1/widgets")) == 2


async def test_a_fixed_bearer_token_is_sent_and_a_401_returned_at_once(sandbox) -> None:
    app, base_url = sandbox
    app.faults.add(StatusFault(status=401, times=1))
    config = ProviderConfig(name="widgets", base_url=base_url, timeout=2)
    async with ResilientClient(config, sleep=Sleeps(), authorization=BearerToken("key-1")) as c:
        response = await c.request("GET", "/v1/widgets")
    assert response.status_code == 401
    assert response.request.headers["Authorization"] == "Bearer key-1"
    assert len(app.requests.records(path_prefix="/v1/widgets")) == 1


def test_parse_retry_after_forms() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Fri, 27 Nov 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_redact_url_keeps_other_parameters() -> None:
    assert redact_url("https://graph.test/me?fields=id&client_secret=s3&access_token=t") == (
        "https://graph.test/me?fields=id&client_secret=***&access_token=***"
    )
    assert redact_url(httpx.URL("https://x.test/a")) == "https://x.test/a"
