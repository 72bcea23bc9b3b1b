"""OAuth2 authorization code and refresh flows on Authlib's httpx client, through intplat_common's resilient HTTP.

Authlib builds and parses the requests; they travel through a `ResilientClient` (timeouts, breaker, metrics,
redacted logs), which Authlib's client reaches via `_ResilientTransport`. Authorization servers punish hammering
(Lexoffice's blocks a client that keeps trying, permanently in the end), hence two retry policies on one breaker:
- a code exchange is tried once: an authorization code is single-use, so after a 429, 5xx or timeout the user starts
  the flow again rather than the service trying the code blindly;
- a refresh is retried with exponential backoff and jitter on 429, 5xx and timeouts (a lost answer to a refresh
  that rotated the refresh token then ends as `ReconnectRequired`, which the caller must handle anyway).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.client import OAuth2Client
from pydantic import SecretStr

from .._breaker import AsyncCircuitBreaker
from .._http import ProviderConfig, ResilientClient

# Set per hop by each client; the answer is re-framed (decoded body) when it crosses from httpx to Authlib's client.
_FRAMING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding", "connection"})
RECONNECT_ERRORS = frozenset({"invalid_grant"})


class OAuthGrantError(Exception):
    """The authorization server answered with an OAuth2 error (RFC 6749 §5.2), e.g. `invalid_client`."""

    def __init__(self, provider: str, error: str, description: str | None = None) -> None:
        super().__init__(f"{provider}: {error}" + (f" ({description})" if description else ""))
        self.provider = provider
        self.error = error
        self.description = description


class ReconnectRequired(OAuthGrantError):
    """The grant is no longer valid (`invalid_grant`: revoked, expired, already used): mark the credential
    `needs_reconnect` and ask the user to connect again; retrying cannot help."""


@dataclass(frozen=True)
class OAuth2ClientConfig:
    name: str
    client_id: str
    client_secret: SecretStr
    authorization_endpoint: str
    token_endpoint: str
    redirect_uri: str
    scopes: tuple[str, ...] = ()
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"  # noqa: S105 - a method name
    # Meta's Graph (Facebook Login) takes the code exchange as a GET; the client credentials then go in the query.
    token_request_method: Literal["POST", "GET"] = "POST"  # noqa: S105 - a method name
    timeout: float = 10.0
    refresh_attempts: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    breaker_fail_max: int = 3
    breaker_reset_timeout: float = 120.0


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    token_type: str
    refresh_token: str | None
    expires_at: datetime | None
    scopes: tuple[str, ...] | None
    """None when the server did not say (RFC 6749 §5.1: then the scopes are the ones requested or held before)."""


class OAuth2Flow:
    """One provider's OAuth2 client: authorization URL, code exchange, refresh. Close with `aclose()`."""

    def __init__(
        self,
        config: OAuth2ClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        http = ProviderConfig(
            name=config.name,
            base_url=config.token_endpoint,
            timeout=config.timeout,
            max_attempts=config.refresh_attempts,
            backoff_base=config.backoff_base,
            backoff_max=config.backoff_max,
            breaker_fail_max=config.breaker_fail_max,
            breaker_reset_timeout=config.breaker_reset_timeout,
        )
        self.breaker = AsyncCircuitBreaker(
            config.name, fail_max=config.breaker_fail_max, reset_timeout=config.breaker_reset_timeout
        )
        self._refreshing = ResilientClient(http, transport=transport, breaker=self.breaker, sleep=sleep)
        self._exchanging = ResilientClient(
            replace(http, max_attempts=1), transport=transport, breaker=self.breaker, sleep=sleep
        )

    async def aclose(self) -> None:
        await self._refreshing.aclose()
        await self._exchanging.aclose()

    async def __aenter__(self) -> OAuth2Flow:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def authorization_url(self, state: str, *, scopes: Collection[str] | None = None, **extra: str) -> str:
        """Where to send the user's browser; `state` comes from `OAuthStateSigner.issue`. `extra` adds provider
        parameters (e.g. Facebook's `config_id`)."""
        client = OAuth2Client(
            None, client_id=self.config.client_id, redirect_uri=self.config.redirect_uri, scope=self._scope(scopes)
        )
        url, _ = client.create_authorization_url(self.config.authorization_endpoint, state=state, **extra)
        return str(url)

    async def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenSet:
        """Tried once (see the module docstring). Raises `ReconnectRequired` when the code is invalid or used,
        `OAuthGrantError` for other OAuth errors, `ProviderError`/`AmbiguousOutcome`/`CircuitOpenError` otherwise."""
        params: dict[str, str] = {"code": code, "redirect_uri": self.config.redirect_uri}
        if code_verifier is not None:
            params["code_verifier"] = code_verifier
        method = self.config.token_request_method
        if method == "GET":
            # A GET has no body for client_secret_post to fill: the client sends its id and secret in the query.
            params["client_secret"] = self.config.client_secret.get_secret_value()
        async with self._client(self._exchanging, idempotent=False, query_credentials=method == "GET") as client:
            token = await self._call(
                client.fetch_token(self.config.token_endpoint, method=method, grant_type="authorization_code", **params)
            )
        return _token_set(token)

    async def refresh(self, refresh_token: str, *, scopes: Collection[str] | None = None) -> TokenSet:
        """Retried with backoff on 429/5xx/timeouts; `ReconnectRequired` when the refresh token is no longer valid.
        When the answer holds no new refresh token, the one passed in stays valid and is returned."""
        extra = {"scope": " ".join(scopes)} if scopes else {}
        async with self._client(self._refreshing, idempotent=True) as client:
            token = await self._call(
                client.refresh_token(self.config.token_endpoint, refresh_token=refresh_token, **extra)
            )
        return _token_set(token)

    def _scope(self, scopes: Collection[str] | None) -> str:
        return " ".join(self.config.scopes if scopes is None else scopes)

    def _client(self, http: ResilientClient, *, idempotent: bool, query_credentials: bool = False) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret.get_secret_value(),
            # "none" adds only the client id (to the query of a GET); the caller adds the secret there.
            token_endpoint_auth_method="none" if query_credentials else self.config.token_endpoint_auth_method,
            transport=_ResilientTransport(http, idempotent=idempotent),
            trust_env=False,
        )

    async def _call(self, pending: Awaitable[Any]) -> dict[str, Any]:
        try:
            token = dict(await pending)
        except OAuthError as exc:
            # Some providers (Meta) send `error` as an object rather than an RFC 6749 code.
            error = exc.error if isinstance(exc.error, str) else json.dumps(exc.error, sort_keys=True)
            kind = ReconnectRequired if error in RECONNECT_ERRORS else OAuthGrantError
            raise kind(self.config.name, error, exc.description) from None
        except httpx2.HTTPStatusError as exc:
            # A 4xx answer without an OAuth2 error body (5xx and 429 were handled by the resilient client).
            raise OAuthGrantError(self.config.name, f"http_{exc.response.status_code}") from None
        except ValueError as exc:
            raise OAuthGrantError(self.config.name, "invalid_response", str(exc)) from None
        token = _unwrapped(token)
        if not isinstance(token.get("access_token"), str):
            raise OAuthGrantError(
                self.config.name, "invalid_response", f"no access_token; fields: {', '.join(sorted(token))}"
            )
        return token


class _ResilientTransport(httpx2.AsyncBaseTransport):
    """Sends the requests of Authlib's client (httpx2) through a `ResilientClient` (httpx)."""

    def __init__(self, http: ResilientClient, *, idempotent: bool) -> None:
        self._http = http
        self._idempotent = idempotent

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _FRAMING_HEADERS]
        answer = await self._http.request(
            request.method, str(request.url), content=body, headers=headers, idempotent=self._idempotent
        )
        return httpx2.Response(
            answer.status_code,
            headers=[(k, v) for k, v in answer.headers.multi_items() if k.lower() not in _FRAMING_HEADERS],
            content=answer.content,
            request=request,
        )


def _unwrapped(token: dict[str, Any]) -> dict[str, Any]:
    """Meta's Instagram Login answers a code exchange with `{"data": [{access_token, user_id, permissions}]}`: the
    one token it holds, with `permissions` as its scope."""
    data = token.get("data")
    if "access_token" in token or not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
        return token
    inner = dict(data[0])
    if "scope" not in inner and "permissions" in inner:
        permissions = inner["permissions"]
        inner["scope"] = " ".join(permissions) if isinstance(permissions, list) else str(permissions)
    return inner


def _token_set(token: dict[str, Any]) -> TokenSet:
    expires_at = token.get("expires_at")
    scope = token.get("scope")
    return TokenSet(
        access_token=str(token["access_token"]),
        token_type=str(token.get("token_type", "bearer")),
        refresh_token=token.get("refresh_token"),
        expires_at=None if expires_at is None else datetime.fromtimestamp(int(expires_at), UTC),
        scopes=None if scope is None else tuple(str(scope).replace(",", " ").split()),
    )
