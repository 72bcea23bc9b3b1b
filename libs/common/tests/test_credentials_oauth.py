"""OAuth2 code exchange and refresh against a small token endpoint served on a loopback port."""

import base64
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from intplat_sandboxes.framework import serve_in_background
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from intplat_common import CircuitOpenError, ProviderError, configure_logging
from intplat_common.credentials import (
    OAuth2ClientConfig,
    OAuth2Flow,
    OAuthGrantError,
    ReconnectRequired,
)


@dataclass
class TokenEndpoint:
    """Answers from `script` in order (then `default`), recording every request's form and headers."""

    script: list[Response] = field(default_factory=list)
    requests: list[tuple[dict[str, str], dict[str, str]]] = field(default_factory=list)

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        self.requests.append((form, dict(request.headers)))
        if self.script:
            return self.script.pop(0)
        return JSONResponse(
            {
                "access_token": f"access-{len(self.requests)}",
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": f"refresh-{len(self.requests)}",
                "scope": "profile finance",
            }
        )


@dataclass
class Sleeps:
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[TokenEndpoint, str]]:
    server = TokenEndpoint()
    app = Starlette(routes=[Route("/oauth2/token", server.token, methods=["POST"])])
    async with serve_in_background(app) as base_url:
        yield server, base_url


def _config(base_url: str, **overrides: object) -> OAuth2ClientConfig:
    values: dict[str, object] = {
        "name": "oauth-test",
        "client_id": "partner-app",
        "client_secret": SecretStr("partner-secret"),
        "authorization_endpoint": "https://auth.example.test/oauth2/authorize",
        "token_endpoint": f"{base_url}/oauth2/token",
        "redirect_uri": "https://platform.example.test/callback",
        "scopes": ("profile", "finance"),
        "backoff_base": 2.0,
        "backoff_max": 10.0,
    }
    values.update(overrides)
    return OAuth2ClientConfig(**values)  # type: ignore[arg-type]


def test_authorization_url_carries_client_state_redirect_and_scopes() -> None:
    flow = OAuth2Flow(_config("http://127.0.0.1:1"))
    url = urlsplit(flow.authorization_url("opaque-state", config_id="cfg-1"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://auth.example.test/oauth2/authorize"
    assert parse_qs(url.query) == {
        "response_type": ["code"],
        "client_id": ["partner-app"],
        "redirect_uri": ["https://platform.example.test/callback"],
        "scope": ["profile finance"],
        "state": ["opaque-state"],
        "config_id": ["cfg-1"],
    }


async def test_code_exchange_posts_the_code_with_basic_client_auth(endpoint: tuple[TokenEndpoint, str]) -> None:
    server, base_url = endpoint
    async with OAuth2Flow(_config(base_url)) as flow:
        before = datetime.now(UTC)
        tokens = await flow.exchange_code("the-code")
    form, headers = server.requests[0]
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://platform.example.test/callback",
    }
    assert headers["authorization"] == "Basic " + base64.b64encode(b"partner-app:partner-secret").decode()
    assert (tokens.access_token, tokens.refresh_token, tokens.scopes) == (
        "access-1",
        "refresh-1",
        ("profile", "finance"),
    )
    assert tokens.expires_at is not None
    assert before + timedelta(seconds=3590) <= tokens.expires_at <= datetime.now(UTC) + timedelta(seconds=3601)


async def test_client_secret_post_sends_the_secret_in_the_form(endpoint: tuple[TokenEndpoint, str]) -> None:
    server, base_url = endpoint
    async with OAuth2Flow(_config(base_url, token_endpoint_auth_method="client_secret_post")) as flow:
        await flow.exchange_code("the-code")
    form, headers = server.requests[0]
    assert (form["client_id"], form["client_secret"]) == ("partner-app", "partner-secret")
    assert "authorization" not in headers


async def test_a_get_exchange_sends_the_client_credentials_in_the_query() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def token(request: Request) -> Response:
        seen.append((request.method, dict(request.query_params), await request.body()))
        return JSONResponse({"access_token": "fb-short", "token_type": "bearer", "expires_in": 3600})

    app = Starlette(routes=[Route("/oauth2/token", token, methods=["GET"])])
    async with serve_in_background(app) as base_url:
        config = _config(base_url, token_endpoint_auth_method="client_secret_post", token_request_method="GET")
        async with OAuth2Flow(config) as flow:
            tokens = await flow.exchange_code("the-code")
    ((method, query, body),) = seen
    assert (method, body, tokens.access_token) == ("GET", b"", "fb-short")
    assert query == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://platform.example.test/callback",
        "client_id": "partner-app",
        "client_secret": "partner-secret",
    }


async def test_a_get_exchange_leaves_no_secret_in_the_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    async def token(_: Request) -> Response:
        return JSONResponse({"access_token": "fb-short", "token_type": "bearer"})

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # configure_logging replaces them; restored after
    for name in ("httpx", "httpx2"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    lines = io.StringIO()
    configure_logging("oauth-test", stream=lines)
    app = Starlette(routes=[Route("/oauth2/token", token, methods=["GET"])])
    async with serve_in_background(app) as base_url:
        config = _config(base_url, token_endpoint_auth_method="client_secret_post", token_request_method="GET")
        async with OAuth2Flow(config) as flow:
            await flow.exchange_code("the-code")
    assert "oauth-test" in lines.getvalue(), "the resilient client logged the call"
    assert "partner-secret" not in lines.getvalue()


async def test_a_token_wrapped_in_data_is_unwrapped_with_its_permissions(endpoint: tuple[TokenEndpoint, str]) -> None:
    server, base_url = endpoint
    server.script.append(
        JSONResponse({"data": [{"access_token": "ig-short", "user_id": "1784", "permissions": "a_basic,b_insights"}]})
    )
    async with OAuth2Flow(_config(base_url)) as flow:
        tokens = await flow.exchange_code("the-code")
    assert (tokens.access_token, tokens.scopes) == ("ig-short", ("a_basic", "b_insights"))


async def test_refresh_keeps_the_old_refresh_token_when_none_is_returned(endpoint: tuple[TokenEndpoint, str]) -> None:
    server, base_url = endpoint
    server.script.append(JSONResponse({"access_token": "fresh", "token_type": "Bearer", "expires_in": 60}))
    async with OAuth2Flow(_config(base_url)) as flow:
        tokens = await flow.refresh("long-lived-refresh")
    assert server.requests[0][0] == {"grant_type": "refresh_token", "refresh_token": "long-lived-refresh"}
    assert (tokens.access_token, tokens.refresh_token, tokens.scopes) == ("fresh", "long-lived-refresh", None)


@pytest.mark.parametrize("grant", ["exchange", "refresh"])
async def test_invalid_grant_means_reconnect_and_is_not_retried(
    endpoint: tuple[TokenEndpoint, str], grant: str
) -> None:
    server, base_url = endpoint
    server.script.append(JSONResponse({"error": "invalid_grant", "error_description": "revoked"}, status_code=400))
    sleeps = Sleeps()
    async with OAuth2Flow(_config(base_url), sleep=sleeps) as flow:
        with pytest.raises(ReconnectRequired, match="invalid_grant") as caught:
            await (flow.exchange_code("used-code") if grant == "exchange" else flow.refresh("revoked-refresh"))
    assert (caught.value.error, caught.value.description) == ("invalid_grant", "revoked")
    assert len(server.requests) == 1
    assert sleeps.waits == []


async def test_other_oauth_errors_are_typed_but_not_reconnect(endpoint: tuple[TokenEndpoint, str]) -> None:
    server, base_url = endpoint
    server.script.append(JSONResponse({"error": "invalid_client"}, status_code=401))
    server.script.append(PlainTextResponse("forbidden", status_code=403))
    async with OAuth2Flow(_config(base_url)) as flow:
        with pytest.raises(OAuthGrantError) as caught:
            await flow.refresh("r")
        assert not isinstance(caught.value, ReconnectRequired)
        assert caught.value.error == "invalid_client"
        with pytest.raises(OAuthGrantError, match="http_403"):
            await flow.refresh("r")


async def test_non_standard_error_bodies_are_typed_errors(endpoint: tuple[TokenEndpoint, str]) -> None:
    server, base_url = endpoint
    server.script.append(JSONResponse({"error": {"code": 190, "type": "OAuthException"}}, status_code=400))
    server.script.append(
        JSONResponse({"error_type": "OAuthException", "code": 400, "error_message": "bad code"}, status_code=400)
    )
    async with OAuth2Flow(_config(base_url)) as flow:
        with pytest.raises(OAuthGrantError, match='"code": 190'):
            await flow.exchange_code("c")
        with pytest.raises(OAuthGrantError, match="no access_token; fields: code, error_message, error_type"):
            await flow.exchange_code("c")


async def test_refresh_backs_off_on_429_and_5xx(endpoint: tuple[TokenEndpoint, str]) -> None:
    server, base_url = endpoint
    server.script += [PlainTextResponse("slow down", status_code=429), PlainTextResponse("oops", status_code=503)]
    sleeps = Sleeps()
    async with OAuth2Flow(_config(base_url), sleep=sleeps) as flow:
        tokens = await flow.refresh("r")
    assert tokens.access_token == "access-3"
    assert len(server.requests) == 3
    assert len(sleeps.waits) == 2
    assert 0 <= sleeps.waits[0] <= 2.0
    assert 0 <= sleeps.waits[1] <= 4.0


async def test_refresh_honours_retry_after(endpoint: tuple[TokenEndpoint, str]) -> None:
    server, base_url = endpoint
    server.script.append(PlainTextResponse("slow down", status_code=429, headers={"Retry-After": "7"}))
    sleeps = Sleeps()
    async with OAuth2Flow(_config(base_url), sleep=sleeps) as flow:
        await flow.refresh("r")
    assert sleeps.waits == [7.0]


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_code_exchange_is_never_retried(endpoint: tuple[TokenEndpoint, str], status: int) -> None:
    server, base_url = endpoint
    server.script.append(PlainTextResponse("no", status_code=status))
    sleeps = Sleeps()
    async with OAuth2Flow(_config(base_url), sleep=sleeps) as flow:
        with pytest.raises(ProviderError, match=f"HTTP {status}"):
            await flow.exchange_code("the-code")
    assert len(server.requests) == 1
    assert sleeps.waits == []


async def test_the_breaker_stops_calls_to_a_failing_authorization_server(endpoint: tuple[TokenEndpoint, str]) -> None:
    server, base_url = endpoint
    server.script += [PlainTextResponse("down", status_code=503) for _ in range(4)]
    config = _config(base_url, refresh_attempts=2, breaker_fail_max=2)
    async with OAuth2Flow(config, sleep=Sleeps()) as flow:
        for _ in range(2):
            with pytest.raises(ProviderError):
                await flow.refresh("r")
        with pytest.raises(CircuitOpenError):
            await flow.exchange_code("the-code")
    assert len(server.requests) == 4
