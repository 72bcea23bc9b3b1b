"""`GraphApi` over HTTP: both Graph hosts through `ResilientClient`s sharing one breaker, every answer's usage
headers read into the `CallBudget`, every error classified by code and subcode."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from intplat_common import AsyncCircuitBreaker, ProbeFailed, ProviderConfig, ResilientClient

from ..clock import Clock, utc_now
from .budget import CallBudget
from .errors import Throttled, classify
from .ports import Json, Login, LongLivedToken, Page

PROVIDER = "meta-graph"
MAX_PAGE_LISTINGS = 50  # pages of a user's Facebook Pages (100 each)


class GraphClient:
    def __init__(
        self,
        *,
        facebook_base: str,
        instagram_base: str,
        version: str,
        app_id: str,
        app_secret: str,
        budget: CallBudget,
        timeout: float = 20.0,
        max_attempts: int = 3,
        backoff_base: float = 1.0,
        breaker_fail_max: int = 5,
        breaker_reset_seconds: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.version = version
        self._clock = clock
        self._app_id = app_id
        self._app_secret = app_secret
        self._budget = budget
        self.breaker = AsyncCircuitBreaker(PROVIDER, fail_max=breaker_fail_max, reset_timeout=breaker_reset_seconds)

        def http(base: str) -> ResilientClient:
            config = ProviderConfig(
                name=PROVIDER, base_url=base, timeout=timeout, max_attempts=max_attempts, backoff_base=backoff_base
            )
            return ResilientClient(config, transport=transport, breaker=self.breaker)

        self._hosts: dict[Login, ResilientClient] = {"facebook": http(facebook_base), "instagram": http(instagram_base)}

    async def aclose(self) -> None:
        for host in self._hosts.values():
            await host.aclose()

    def _proof(self, token: str) -> str:
        return hmac.new(self._app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()

    async def _call(
        self,
        login: Login,
        url: str,
        params: Mapping[str, str],
        *,
        account_id: str | None,
        method: str = "GET",
        idempotent: bool = True,
        paced: bool = True,
    ) -> Json:
        """`paced=False`: sent even while our own budget pause holds (the uptime probe: a pause is not an outage)."""
        if paced:
            await self._budget.check(account_id)
        # No params for a `next` URL: httpx would replace the query it carries. A POST that only sets state (a
        # subscription) is harmless to repeat, so it is retried like a read; one that creates is not (`create`).
        response = await self._hosts[login].request(method, url, params=dict(params) or None, idempotent=idempotent)
        headers = {k.lower(): v for k, v in response.headers.items()}
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or not isinstance(body, dict):
            error = classify(response.status_code, body)
            if isinstance(error, Throttled):
                await self._budget.throttled(account_id, app_wide=error.app_wide, headers=headers, reason=str(error))
            else:
                await self._budget.observe(account_id, headers)
            raise error
        await self._budget.observe(account_id, headers)
        return body

    def _authorized(self, token: str, params: Mapping[str, str]) -> dict[str, str]:
        return {**params, "access_token": token, "appsecret_proof": self._proof(token)}

    async def long_lived_token(self, login: Login, short_lived: str) -> LongLivedToken:
        if login == "instagram":
            params = {"grant_type": "ig_exchange_token", "client_secret": self._app_secret, "access_token": short_lived}
            body = await self._call("instagram", "/access_token", params, account_id=None)
        else:
            params = {
                "grant_type": "fb_exchange_token",
                "client_id": self._app_id,
                "client_secret": self._app_secret,
                "fb_exchange_token": short_lived,
            }
            body = await self._call("facebook", f"/{self.version}/oauth/access_token", params, account_id=None)
        return _token(body, self._clock())

    async def refresh_instagram_token(self, token: str) -> LongLivedToken:
        params = {"grant_type": "ig_refresh_token", "access_token": token}
        return _token(await self._call("instagram", "/refresh_access_token", params, account_id=None), self._clock())

    @property
    def probe_client(self) -> ResilientClient:
        """The host `probe` calls (its TLS certificate is reported with the probe)."""
        return self._hosts["facebook"]

    async def probe(self) -> None:
        """The uptime probe: the app token inspects itself (`debug_token`, reference A1), a cheap read that Meta
        answers only for our app id and secret. One call a minute, so it is not held back by our budget pause."""
        app_token = f"{self._app_id}|{self._app_secret}"
        params = self._authorized(app_token, {"input_token": app_token})
        body = await self._call("facebook", f"/{self.version}/debug_token", params, account_id=None, paced=False)
        data = body.get("data")
        if not isinstance(data, dict) or data.get("is_valid") is not True:
            raise ProbeFailed(f"meta: debug_token finds the app token invalid: {body}")

    async def pages(self, token: str) -> list[Page]:
        params = {"fields": "id,name,instagram_business_account,access_token", "limit": "100"}
        first = await self.get("facebook", "me/accounts", token, params, account_id=None)
        found: list[Page] = []
        async for listing in self.pages_of("facebook", first, account_id=None, max_pages=MAX_PAGE_LISTINGS):
            for item in listing:
                business = item.get("instagram_business_account") or {}
                found.append(Page(str(item["id"]), item.get("name"), business.get("id"), item.get("access_token")))
        return found

    async def get(
        self, login: Login, path: str, token: str, params: Mapping[str, str], *, account_id: str | None
    ) -> Json:
        url = f"/{self.version}/{path.lstrip('/')}"
        return await self._call(login, url, self._authorized(token, params), account_id=account_id)

    async def blocked_until(self, account_id: str) -> datetime | None:
        return await self._budget.blocked_until(account_id)

    async def subscribe(self, login: Login, node_id: str, token: str, fields: str, *, account_id: str) -> None:
        url = f"/{self.version}/{node_id}/subscribed_apps"
        params = self._authorized(token, {"subscribed_fields": fields})
        await self._call(login, url, params, account_id=account_id, method="POST")

    async def create(self, login: Login, path: str, token: str, params: Mapping[str, str], *, account_id: str) -> Json:
        url = f"/{self.version}/{path.lstrip('/')}"
        params = self._authorized(token, params)
        return await self._call(login, url, params, account_id=account_id, method="POST", idempotent=False)

    async def pages_of(
        self, login: Login, first: Json, *, account_id: str | None, max_pages: int
    ) -> AsyncIterator[list[Json]]:
        body = first
        for page in range(max_pages):
            if page:
                following = _next(body)
                if following is None:
                    return
                # `next` carries every parameter (token and proof included).
                body = await self._call(login, following, {}, account_id=account_id)
            yield list(body.get("data") or [])


def _next(body: Json) -> str | None:
    paging = body.get("paging")
    following = paging.get("next") if isinstance(paging, dict) else None
    return following if isinstance(following, str) and following else None


def _token(body: Json, now: datetime) -> LongLivedToken:
    expires_in = body.get("expires_in")
    expires_at = now + timedelta(seconds=int(expires_in)) if isinstance(expires_in, int | float) else None
    return LongLivedToken(access_token=str(body["access_token"]), expires_at=expires_at)
