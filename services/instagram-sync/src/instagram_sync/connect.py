"""Connecting an Instagram account: both Meta logins behind one flow.

`start` gives the authorization URL and a browser binding (a cookie): the `state` is issued for that binding, so a
callback from another browser, a forged, altered or expired state (10 minutes) is refused, and its nonce is recorded
when used, so a state works once. `finish` exchanges the code once (Authlib via `OAuth2Flow`), checks the granted
scopes, swaps the short-lived token for a long-lived one, discovers the Instagram account(s) and stores them.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import get_args

from intplat_common import CircuitOpenError, ProviderError
from intplat_common.credentials import (
    CredentialCipher,
    InvalidOAuthState,
    OAuth2ClientConfig,
    OAuth2Flow,
    OAuthGrantError,
    OAuthStateSigner,
)

from .clock import Clock, utc_now
from .connections import Connections
from .graph import Blocked, GraphError
from .graph.ports import GraphApi, Login, LongLivedToken, Page
from .schedule import Periods, schedule_account
from .settings import InstagramSyncSettings

# Minimal read scopes per login (reference A1); `pages_read_engagement` is what Meta requires for Page-linked reads.
SCOPES: dict[Login, tuple[str, ...]] = {
    "facebook": ("instagram_basic", "instagram_manage_insights", "pages_show_list", "pages_read_engagement"),
    "instagram": ("instagram_business_basic", "instagram_business_manage_insights"),
}
# Asked for too when content publishing is on (INSTAGRAM_SYNC_CONTENT_PUBLISHING); not required to connect.
PUBLISH_SCOPES: dict[Login, tuple[str, ...]] = {
    "facebook": ("instagram_content_publish",),
    "instagram": ("instagram_business_content_publish",),
}
log = logging.getLogger(__name__)
CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BINDING_COOKIE = "ig_connect"


class ConnectError(Exception):
    """The connection cannot be made; `code` says why (the 400 answer's `error`)."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Binding:
    """Who started the flow, in the browser's cookie: the login, the client and a random value."""

    login: Login
    customer_id: str
    nonce: str

    def cookie(self) -> str:
        return f"{self.login}|{self.customer_id}|{self.nonce}"

    @classmethod
    def parse(cls, value: str | None) -> Binding:
        parts = (value or "").split("|")
        if len(parts) != 3 or parts[0] not in get_args(Login) or not CUSTOMER_ID.match(parts[1]):
            raise ConnectError("invalid_state", "the connect flow was not started in this browser")
        login: Login = "facebook" if parts[0] == "facebook" else "instagram"
        return cls(login, parts[1], parts[2])


@dataclass(frozen=True)
class Found:
    """An Instagram account a login reaches, and where (node, token) its webhooks are subscribed."""

    account_id: str
    page_id: str | None
    username: str | None
    webhook_node: str
    webhook_token: str


@dataclass(frozen=True)
class Started:
    url: str
    binding: Binding


def oauth_configs(settings: InstagramSyncSettings) -> dict[Login, OAuth2ClientConfig]:
    dialog = (settings.facebook_dialog_base or settings.meta_graph_api_base).rstrip("/")
    instagram = (settings.instagram_oauth_base or settings.meta_graph_api_base).rstrip("/")

    def requested(login: Login) -> tuple[str, ...]:
        return SCOPES[login] + (PUBLISH_SCOPES[login] if settings.content_publishing else ())

    common = {
        "client_id": settings.meta_app_id,
        "client_secret": settings.meta_app_secret,
        "redirect_uri": settings.redirect_uri,
        "token_endpoint_auth_method": "client_secret_post",
    }
    return {
        "facebook": OAuth2ClientConfig(
            name="meta-oauth-facebook",
            authorization_endpoint=f"{dialog}/{settings.graph_api_version}/dialog/oauth",
            token_endpoint=f"{settings.meta_graph_api_base.rstrip('/')}/{settings.graph_api_version}/oauth/access_token",
            scopes=requested("facebook"),
            token_request_method="GET",  # noqa: S106 - an HTTP method
            **common,  # type: ignore[arg-type]
        ),
        "instagram": OAuth2ClientConfig(
            name="meta-oauth-instagram",
            authorization_endpoint=f"{instagram}/oauth/authorize",
            token_endpoint=f"{instagram}/oauth/access_token",
            scopes=requested("instagram"),
            **common,  # type: ignore[arg-type]
        ),
    }


class ConnectFlow:
    def __init__(
        self,
        settings: InstagramSyncSettings,
        cipher: CredentialCipher,
        graph: GraphApi,
        connections: Connections,
        periods: Periods,
        clock: Clock = utc_now,
    ) -> None:
        self._clock = clock
        self._settings = settings
        self._periods = periods
        self._signer = OAuthStateSigner(cipher)
        self._graph = graph
        self._connections = connections
        self._flows = {login: OAuth2Flow(config) for login, config in oauth_configs(settings).items()}

    async def aclose(self) -> None:
        for flow in self._flows.values():
            await flow.aclose()

    def start(self, login: Login, customer_id: str) -> Started:
        if not CUSTOMER_ID.match(customer_id):
            raise ConnectError("invalid_request", "customer_id must be 1-64 of [A-Za-z0-9_-]")
        binding = Binding(login, customer_id, secrets.token_urlsafe(16))
        state = self._signer.issue(binding.cookie())
        extra = {}
        if login == "facebook" and self._settings.facebook_config_id:
            extra["config_id"] = self._settings.facebook_config_id
        return Started(self._flows[login].authorization_url(state.value, **extra), binding)

    async def _use_state(self, binding: Binding, state: str | None) -> None:
        try:
            nonce = self._signer.verify(state or "", binding.cookie())
        except InvalidOAuthState as exc:
            raise ConnectError("invalid_state", str(exc)) from None
        inserted = await self._connections.pool.fetchval(
            "INSERT INTO oauth_states_used (nonce) VALUES ($1) ON CONFLICT DO NOTHING RETURNING nonce", nonce
        )
        if inserted is None:
            raise ConnectError("invalid_state", "state was already used")

    async def finish(
        self, binding_cookie: str | None, *, state: str | None, code: str | None, error: str | None
    ) -> list[str]:
        """The connected account ids. Raises `ConnectError`."""
        binding = Binding.parse(binding_cookie)
        await self._use_state(binding, state)
        if error:
            raise ConnectError("access_denied", f"the authorization was not granted: {error}")
        if not code:
            raise ConnectError("invalid_request", "the callback has no code")
        try:
            token, granted, accounts = await self._authorize(binding.login, code.removesuffix("#_"))
        except OAuthGrantError as exc:
            raise ConnectError("exchange_failed", f"{exc}; please connect again") from None
        except (GraphError, Blocked, ProviderError, CircuitOpenError) as exc:
            raise ConnectError("meta_unavailable", f"Meta did not answer as expected: {exc}", status=502) from None
        async with self._connections.pool.acquire() as conn, conn.transaction():
            tier = await conn.fetchval("SELECT tier FROM customer_tiers WHERE customer_id = $1", binding.customer_id)
            for found in accounts:
                await self._connections.save(
                    conn,
                    account_id=found.account_id,
                    customer_id=binding.customer_id,
                    login=binding.login,
                    token=token,
                    scopes=granted if granted is not None else SCOPES[binding.login],
                    page_id=found.page_id,
                    username=found.username,
                    now=self._clock(),
                )
                await schedule_account(conn, found.account_id, tier or "none", self._periods, self._clock())
        for found in accounts:
            await self._subscribe_story_insights(binding.login, found)
        return [found.account_id for found in accounts]

    async def _authorize(self, login: Login, code: str) -> tuple[LongLivedToken, list[str] | None, list[Found]]:
        """The code → the granted scopes (all needed ones, else `scope_declined`), a long-lived token and the
        Instagram accounts it reaches."""
        short = await self._flows[login].exchange_code(code)
        granted = await self._granted_scopes(login, short.access_token, short.scopes)
        missing = [scope for scope in SCOPES[login] if granted is not None and scope not in granted]
        if missing:
            raise ConnectError("scope_declined", f"these permissions were declined: {', '.join(missing)}")
        token = await self._graph.long_lived_token(login, short.access_token)
        return token, granted, await self._discover(login, token.access_token)

    async def _granted_scopes(self, login: Login, token: str, reported: tuple[str, ...] | None) -> list[str] | None:
        """Facebook: `/me/permissions` (each granted or declined); Instagram: the permissions of the token answer
        (None: not said)."""
        if login == "instagram":
            return None if reported is None else list(reported)
        body = await self._graph.get("facebook", "me/permissions", token, {}, account_id=None)
        return [str(p["permission"]) for p in body.get("data") or [] if p.get("status") == "granted"]

    async def _discover(self, login: Login, token: str) -> list[Found]:
        """Each Instagram professional account the token reaches."""
        if login == "instagram":
            me = await self._graph.get("instagram", "me", token, {"fields": "user_id,username"}, account_id=None)
            account_id = str(me.get("user_id") or me["id"])
            return [Found(account_id, None, me.get("username"), "me", token)]
        pages: list[Page] = await self._graph.pages(token)
        linked = [(page, page.instagram_account_id) for page in pages if page.instagram_account_id]
        if not linked:
            names = ", ".join(page.name or page.id for page in pages) or "none"
            raise ConnectError(
                "no_instagram_account",
                f"no Facebook Page you manage has an Instagram professional account linked (Pages: {names})",
            )
        found: list[Found] = []
        for page, account_id in linked:
            profile = await self._graph.get(
                "facebook", account_id, token, {"fields": "username"}, account_id=account_id
            )
            found.append(Found(account_id, page.id, profile.get("username"), page.id, page.access_token or token))
        return found

    async def _subscribe_story_insights(self, login: Login, found: Found) -> None:
        """Stories keep insights for 24 h only: Meta sends them by webhook once subscribed. A failure here does not
        undo the connection (it is logged; reconnecting subscribes again)."""
        try:
            await self._graph.subscribe(
                login, found.webhook_node, found.webhook_token, "story_insights", account_id=found.account_id
            )
        except (GraphError, Blocked, ProviderError, CircuitOpenError) as exc:
            fields = {"account_id": found.account_id, "error": str(exc)}
            log.warning("story_insights webhook not subscribed", extra={"fields": fields})
