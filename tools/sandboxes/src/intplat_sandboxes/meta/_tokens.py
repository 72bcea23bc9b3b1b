"""Authorization codes and access tokens of both logins on the sandbox clock (reference A1, C1.1-2, C1.9).

Facebook Login: code → short-lived user token (1 h) → long-lived user token (≈60 days, no server-side refresh);
Page tokens from a long-lived user token never expire. Instagram Login: code → short-lived Instagram user token
(1 h) → long-lived (60 days), refreshable once it is 24 h old and until it expires."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from ._errors import GraphError, invalid_parameter, invalid_token

Login = Literal["facebook", "instagram"]
TokenKind = Literal["user", "page", "instagram_user"]

CODE_TTL = timedelta(minutes=10)
SHORT_LIVED_SECONDS = 3600
FACEBOOK_LONG_LIVED_SECONDS = 5_183_944
INSTAGRAM_LONG_LIVED_SECONDS = 5_184_000
REFRESH_FLOOR = timedelta(hours=24)
DATA_ACCESS = timedelta(days=90)
# Real codes carry a `#_` suffix in the redirect (reference A1); it is not part of the code.
_CODE_SUFFIX = "#_"


class Grant(Protocol):
    """Who granted what: an authorization code, or a token exchanged for another."""

    @property
    def subject_id(self) -> str: ...
    @property
    def scopes(self) -> list[str]: ...
    @property
    def declined(self) -> list[str]: ...


@dataclass(frozen=True)
class Consent:
    """A grant made without the dialog (the control route that mints tokens)."""

    subject_id: str
    scopes: list[str]
    declined: list[str]


@dataclass
class AuthorizationCode:
    value: str
    login: Login
    client_id: str
    redirect_uri: str
    subject_id: str
    """The Facebook user id (Facebook Login) or the Instagram account id (Instagram Login)."""
    scopes: list[str]
    declined: list[str]
    issued_at: datetime
    used: bool = False


@dataclass
class AccessToken:
    value: str
    kind: TokenKind
    subject_id: str
    """Facebook user id (user), Page id (page) or Instagram account id (instagram_user)."""
    scopes: list[str]
    declined: list[str]
    issued_at: datetime
    expires_at: datetime | None
    """None: never expires (a Page token from a long-lived user token)."""
    long_lived: bool = False
    user_id: str | None = None
    """The Facebook user behind a Page token."""
    invalidated_subcode: int | None = None
    """Set by the control route: the 190 subcode every call with this token answers from then on."""

    @property
    def login(self) -> Login:
        return "instagram" if self.kind == "instagram_user" else "facebook"

    def expires_in(self, now: datetime) -> int | None:
        return None if self.expires_at is None else max(0, int((self.expires_at - now).total_seconds()))


@dataclass
class TokenStore:
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    _page_tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def clear(self) -> None:
        self.codes.clear()
        self.tokens.clear()
        self._page_tokens.clear()

    def page_token(self, user_token: AccessToken, page_id: str, now: datetime) -> AccessToken:
        """The Page token `/me/accounts` hands out for a user token: the same one on every call; it never expires
        when the user token is long-lived, else it ends with the user token (reference A1 Page tokens)."""
        key = (user_token.value, page_id)
        if key not in self._page_tokens:
            lifetime = None if user_token.long_lived else user_token.expires_in(now)
            token = self.issue(
                "page", user_token, now=now, lifetime_seconds=lifetime, long_lived=user_token.long_lived,
                page_id=page_id,
            )  # fmt: skip
            self._page_tokens[key] = token.value
        return self.tokens[self._page_tokens[key]]

    def new_code(
        self,
        login: Login,
        *,
        client_id: str,
        redirect_uri: str,
        subject_id: str,
        scopes: list[str],
        declined: list[str],
        now: datetime,
    ) -> str:
        value = ("AQ" if login == "facebook" else "AQB") + secrets.token_urlsafe(24)
        self.codes[value] = AuthorizationCode(value, login, client_id, redirect_uri, subject_id, scopes, declined, now)
        return value

    def redeem(
        self, value: str, *, login: Login, client_id: str, redirect_uri: str, now: datetime
    ) -> AuthorizationCode:
        """Single use, 10 minutes, and the `redirect_uri` of the dialog exactly."""
        code = self.codes.get(value.removesuffix(_CODE_SUFFIX)) if value else None
        if code is None or code.login != login:
            raise invalid_parameter("Invalid verification code format.")
        if code.used:
            raise invalid_parameter("This authorization code has been used.", subcode=36009)
        if now - code.issued_at > CODE_TTL:
            raise invalid_parameter("This authorization code has expired.", subcode=36007)
        if redirect_uri != code.redirect_uri or client_id != code.client_id:
            raise invalid_parameter(
                "Error validating verification code. Please make sure your redirect_uri is identical to the one you "
                "used in the OAuth dialog request",
                subcode=36008,
            )
        code.used = True
        return code

    def issue(
        self,
        kind: TokenKind,
        grant: Grant,
        *,
        now: datetime,
        lifetime_seconds: int | None,
        long_lived: bool = False,
        page_id: str | None = None,
    ) -> AccessToken:
        """A token for what `grant` (a code or the token it is exchanged for) was granted; a Page token names its Page
        and keeps the user behind it."""
        prefix = "IGAA" if kind == "instagram_user" else "EAAB"
        expires_at = None if lifetime_seconds is None else now + timedelta(seconds=lifetime_seconds)
        token = AccessToken(
            prefix + secrets.token_urlsafe(32), kind, page_id or grant.subject_id, list(grant.scopes),
            list(grant.declined), now, expires_at, long_lived=long_lived,
            user_id=grant.subject_id if page_id else None,
        )  # fmt: skip
        self.tokens[token.value] = token
        return token

    def valid(self, value: str | None, now: datetime) -> AccessToken:
        """The token, or the 190 error a call with it gets: unknown, invalidated (its subcode) or expired (463)."""
        token = self.tokens.get(value or "")
        if token is None:
            raise invalid_token()
        if token.invalidated_subcode is not None:
            # An invalidation with 463 (expired) names the time as an expiry does.
            expired_at = _graph_date(token.expires_at or now)
            raise invalid_token(
                token.invalidated_subcode, app_id="the app", expired_at=expired_at, now=_graph_date(now)
            )
        if token.expires_at is not None and now >= token.expires_at:
            raise invalid_token(463, expired_at=_graph_date(token.expires_at), now=_graph_date(now))
        return token

    def invalidate(self, value: str, subcode: int) -> AccessToken:
        token = self.tokens[value]
        token.invalidated_subcode = subcode
        return token

    def refresh_instagram(self, value: str | None, now: datetime) -> AccessToken:
        """`ig_refresh_token`: a long-lived Instagram token at least 24 h old and not expired (else code 190)."""
        token = self.valid(value, now)
        if token.kind != "instagram_user" or not token.long_lived:
            raise GraphError("Error validating access token: only long-lived Instagram User tokens refresh.", 190)
        if now - token.issued_at < REFRESH_FLOOR:
            raise GraphError(
                "Error validating access token: the access token must be at least 24 hours old to be refreshed.", 190
            )
        return self.issue(
            "instagram_user", token, now=now, lifetime_seconds=INSTAGRAM_LONG_LIVED_SECONDS, long_lived=True
        )


def _graph_date(moment: datetime) -> str:
    return moment.strftime("%A, %d-%b-%y %H:%M:%S UTC")
