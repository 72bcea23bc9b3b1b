"""What the service needs from Meta's Graph API, as one protocol; `client.GraphClient` implements it over HTTP.

Every call raises a classified `GraphError` (errors.py) when Meta refuses, `Blocked` when the budget forbids the
call (nothing was sent), and the HTTP layer's `ProviderError`/`CircuitOpenError` when Meta is unreachable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

Login = Literal["facebook", "instagram"]
"""Facebook Login for Business (graph.facebook.com, via a Page) or Instagram Login (graph.instagram.com)."""

Json = dict[str, Any]


@dataclass(frozen=True)
class LongLivedToken:
    access_token: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Page:
    id: str
    name: str | None
    instagram_account_id: str | None
    access_token: str | None = None
    """The Page token (listed for a user token): Page-level calls such as webhook subscriptions need it."""


class GraphApi(Protocol):
    async def long_lived_token(self, login: Login, short_lived: str) -> LongLivedToken:
        """Exchanges a short-lived user token for a ~60-day one (server-side: it carries the app secret)."""
        ...

    async def refresh_instagram_token(self, token: str) -> LongLivedToken:
        """Instagram Login only: a token at least 24 h old and unexpired gets a fresh 60 days."""
        ...

    async def pages(self, token: str) -> list[Page]:
        """Facebook Login: the user's Pages with their Instagram business account, every page of the listing."""
        ...

    async def get(
        self, login: Login, path: str, token: str, params: Mapping[str, str], *, account_id: str | None
    ) -> Json:
        """One Graph read under the API version; `account_id` names whose budget the call spends."""
        ...

    async def create(self, login: Login, path: str, token: str, params: Mapping[str, str], *, account_id: str) -> Json:
        """One Graph POST that creates something (a container, a post): not repeated when its outcome is unknown
        (the HTTP layer's `AmbiguousOutcome`)."""
        ...

    async def subscribe(self, login: Login, node_id: str, token: str, fields: str, *, account_id: str) -> None:
        """Enables webhooks `fields` for an account: its Page (Facebook Login, with the Page token) or `me`."""
        ...

    def pages_of(
        self, login: Login, first: Json, *, account_id: str | None, max_pages: int
    ) -> AsyncIterator[list[Json]]:
        """A cursor-paged edge from its first page (read by the caller, e.g. expanded into a node's fields), page by
        page until `paging.next` is absent: short and empty pages continue."""
        ...

    async def blocked_until(self, account_id: str) -> datetime | None:
        """When calls for the account (or the app) may resume; None when they may now."""
        ...

    async def aclose(self) -> None: ...
