"""Lexoffice's OAuth2 authorization server for partner apps (reference §1 "Partner apps use OAuth2", §2).

`GET /api/oauth2/authorize` (client_id, redirect_uri, response_type=code, state): the user approves at once and the
browser goes back to `redirect_uri` with a single-use code. `POST /api/oauth2/token` with HTTP Basic client
credentials: `authorization_code` and `refresh_token` grants (RFC 6749 answers and errors; refresh tokens rotate).
Access tokens expire on the sandbox clock and are accepted by the API like API keys; every token of one connection
shares that connection's API bucket.

Its own limits, stricter than the API's: a token bucket per client; a request beyond it is a 429 and blocks the
client for `block_seconds`; a request while blocked is a 429 that starts the block again, and after
`permanent_after` such refusals the client is blocked for good (the reference: "permanent if the client keeps
hammering").
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from intplat_sandboxes.framework import SandboxClock

from ._access import TokenBucket

DEV_CLIENT_ID = "lexoffice-dev-client"
DEV_CLIENT_SECRET = "lexoffice-dev-client-secret"  # noqa: S105 - the sandbox's development client


@dataclass(frozen=True)
class OAuthServerConfig:
    clients: Mapping[str, str] = field(default_factory=lambda: {DEV_CLIENT_ID: DEV_CLIENT_SECRET})
    """client_id -> client_secret"""
    access_token_ttl: float = 3600.0
    code_ttl: float = 600.0
    token_rate_per_second: float = 0.2
    token_burst: float = 3.0
    block_seconds: float = 60.0
    permanent_after: int = 10


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer (or the limiter's 429)."""

    def __init__(self, status: int, error: str, description: str | None = None) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error} | ({"error_description": self.description} if self.description else {})


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    expires_at: datetime


@dataclass
class Connection:
    """One organisation's grant to one client; `token.revoked` names its id."""

    id: str
    client_id: str
    revoked: bool = False


@dataclass
class _AccessToken:
    connection: Connection
    expires_at: datetime


class AuthorizationServer:
    def __init__(self, clock: SandboxClock, config: OAuthServerConfig) -> None:
        self.clock = clock
        self.config = config
        self.bucket = TokenBucket(clock, rate=config.token_rate_per_second, burst=config.token_burst)
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, Connection] = {}
        self.connections: dict[str, Connection] = {}
        self._blocked_until: dict[str, datetime] = {}
        self._refusals: Counter[str] = Counter()
        self.blocked_for_good: set[str] = set()
        self.token_requests: Counter[str] = Counter()
        """Token requests per grant type (refused ones included)."""

    def authorize(
        self, client_id: str | None, redirect_uri: str | None, response_type: str | None, state: str | None
    ) -> str:
        """The URL the browser is sent back to once the user approved."""
        if client_id is None or client_id not in self.config.clients or not redirect_uri:
            raise OAuthError(400, "invalid_request", "unknown client_id or no redirect_uri")
        if response_type != "code":
            raise OAuthError(400, "unsupported_response_type")
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(client_id, redirect_uri, self.clock.now() + timedelta(seconds=self.config.code_ttl))
        query = {"code": code} | ({"state": state} if state is not None else {})
        separator = "&" if "?" in redirect_uri else "?"
        return f"{redirect_uri}{separator}{urlencode(query)}"

    def token(self, authorization: str | None, form: Mapping[str, str]) -> dict[str, object]:
        grant_type = form.get("grant_type", "")
        self.token_requests[grant_type] += 1
        client_id = self._client(authorization)
        self._admit(client_id)
        if grant_type == "authorization_code":
            connection = self._redeem_code(client_id, form.get("code"), form.get("redirect_uri"))
        elif grant_type == "refresh_token":
            connection = self._redeem_refresh_token(client_id, form.get("refresh_token"))
        else:
            raise OAuthError(400, "unsupported_grant_type")
        return self._issue(connection)

    def owner(self, access_token: str) -> str | None:
        """The connection an unexpired, unrevoked access token belongs to."""
        token = self._access.get(access_token)
        if token is None or token.connection.revoked or token.expires_at <= self.clock.now():
            return None
        return token.connection.id

    def revoke(self, connection_id: str) -> None:
        self.connections[connection_id].revoked = True

    def clear(self) -> None:
        for store in (self._codes, self._access, self._refresh, self.connections, self._blocked_until):
            store.clear()
        self._refusals.clear()
        self.blocked_for_good.clear()
        self.token_requests.clear()
        self.bucket.clear()

    def _client(self, authorization: str | None) -> str:
        scheme, _, encoded = (authorization or "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id = secret = ""
        expected = self.config.clients.get(client_id)
        if scheme.lower() != "basic" or expected is None or not secrets.compare_digest(secret, expected):
            raise OAuthError(401, "invalid_client")
        return client_id

    def _admit(self, client_id: str) -> None:
        now = self.clock.now()
        blocked = client_id in self.blocked_for_good or now < self._blocked_until.get(client_id, now)
        if blocked or not self.bucket.take(client_id):
            if blocked:
                self._refusals[client_id] += 1
                if self._refusals[client_id] >= self.config.permanent_after:
                    self.blocked_for_good.add(client_id)
            self._blocked_until[client_id] = now + timedelta(seconds=self.config.block_seconds)
            raise OAuthError(429, "too_many_requests", "the authorization server blocks this client for a while")
        self._refusals.pop(client_id, None)

    def _redeem_code(self, client_id: str, code: str | None, redirect_uri: str | None) -> Connection:
        issued = self._codes.pop(code or "", None)  # single use, even when refused below
        if issued is None or issued.expires_at <= self.clock.now():
            raise OAuthError(400, "invalid_grant", "unknown, used or expired code")
        if issued.client_id != client_id or issued.redirect_uri != redirect_uri:
            raise OAuthError(400, "invalid_grant", "the code was issued to another client or redirect_uri")
        connection = Connection(str(uuid.uuid4()), client_id)
        self.connections[connection.id] = connection
        return connection

    def _redeem_refresh_token(self, client_id: str, refresh_token: str | None) -> Connection:
        connection = self._refresh.get(refresh_token or "")
        if connection is None or connection.revoked or connection.client_id != client_id:
            raise OAuthError(400, "invalid_grant", "unknown, rotated or revoked refresh token")
        del self._refresh[refresh_token or ""]
        return connection

    def _issue(self, connection: Connection) -> dict[str, object]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        ttl = self.config.access_token_ttl
        self._access[access] = _AccessToken(connection, self.clock.now() + timedelta(seconds=ttl))
        self._refresh[refresh] = connection
        return {"access_token": access, "token_type": "bearer", "expires_in": int(ttl), "refresh_token": refresh}
