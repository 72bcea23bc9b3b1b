"""The Meta Graph sandbox: users, Pages, Instagram accounts, tokens, budgets and webhooks of one Meta app, and the
behaviour both logins and the Graph API share (the factory adds the HTTP routes)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from intplat_sandboxes.framework import SandboxApp, SandboxClock, create_sandbox_app

from ._budget import Budget, Budgets, Cost
from ._errors import no_permission, unknown_object
from ._fixtures import ADA_USER_ID, BAKERY_ACCOUNT_ID, World, build_world
from ._media_insights import STORY_LIFETIME
from ._models import InstagramAccount, Media, Page
from ._paging import PagingQuirks
from ._tokens import AccessToken, Login, TokenStore
from ._webhooks import WebhookSender

DEFAULT_VERSIONS = ("v22.0", "v23.0", "v24.0", "v25.0", "v26.0")
FACEBOOK_SCOPES = frozenset(
    {"instagram_basic", "instagram_manage_insights", "pages_show_list", "pages_read_engagement",
     "instagram_content_publish", "business_management", "ads_read", "ads_management"}
)  # fmt: skip
INSTAGRAM_SCOPES = frozenset(
    {"instagram_business_basic", "instagram_business_manage_insights", "instagram_business_content_publish",
     "instagram_business_manage_messages", "instagram_business_manage_comments"}
)  # fmt: skip
# What Facebook Login for Business grants for a `config_id` (the configuration fixes the permissions).
CONFIGURATION_SCOPES = ("instagram_basic", "instagram_manage_insights", "pages_show_list", "pages_read_engagement")
# Permission each kind of read needs, per login (reference A1 table).
NEEDS: dict[str, dict[Login, tuple[str, ...]]] = {
    "basic": {"facebook": ("instagram_basic",), "instagram": ("instagram_business_basic",)},
    "insights": {
        "facebook": ("instagram_basic", "instagram_manage_insights", "pages_read_engagement"),
        "instagram": ("instagram_business_basic", "instagram_business_manage_insights"),
    },
    "pages": {"facebook": ("pages_show_list",), "instagram": ()},
}


@dataclass
class NextLogin:
    """Who logs in at the next authorization dialog, what they decline, and whether they cancel."""

    facebook_user_id: str = ADA_USER_ID
    instagram_account_id: str = BAKERY_ACCOUNT_ID
    declined: list[str] = field(default_factory=list)
    cancel: bool = False


class MetaSandbox:
    """A fake Meta app (build it with `create_meta_sandbox`, which adds the HTTP routes). `app_id`/`app_secret` serve
    both logins; `versions` are the `/vNN.0/` path prefixes the Graph API accepts (unversioned paths always work)."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        clock: SandboxClock | None = None,
        versions: Iterable[str] = DEFAULT_VERSIONS,
        redirect_uris: Iterable[str] = (),
        app_budget: Budget | None = None,
        webhook_timeout: float = 5.0,
    ) -> None:
        self.app: SandboxApp = create_sandbox_app("meta", clock=clock)
        self.app_id = app_id
        self.app_secret = app_secret
        self.versions = tuple(versions)
        self.redirect_uris = frozenset(redirect_uris)
        """Allowed redirect URIs (exact match); empty allows any."""
        self._app_budget = app_budget
        self.world: World = build_world(self.now())
        self.tokens = TokenStore()
        self.budgets = Budgets(app=app_budget)
        self.paging: dict[str, PagingQuirks] = {}
        self.next_login = NextLogin()
        self.webhooks = WebhookSender(self.app.clock, app_secret, timeout=webhook_timeout)
        self.app.on_reset(self._clear)

    def _clear(self) -> None:
        self.world = build_world(self.now())
        self.tokens.clear()
        self.budgets = Budgets(app=self._app_budget)
        self.paging.clear()
        self.next_login = NextLogin()
        self.webhooks.clear()

    @property
    def clock(self) -> SandboxClock:
        return self.app.clock

    def now(self) -> datetime:
        return self.clock.now()

    # lookups

    def account(self, account_id: str) -> InstagramAccount:
        found = self.world.accounts.get(account_id)
        if found is None:
            raise KeyError(account_id)
        return found

    def quirks(self, account_id: str) -> PagingQuirks:
        return self.paging.setdefault(account_id, PagingQuirks())

    def visible_accounts(self, token: AccessToken) -> list[str]:
        """The Instagram accounts a token reaches: its own (Instagram Login) or those of its Pages."""
        if token.kind == "instagram_user":
            return [token.subject_id]
        pages = [token.subject_id] if token.kind == "page" else self.world.users[token.subject_id].page_ids
        return [p.instagram_account_id for p in map(self.world.pages.__getitem__, pages) if p.instagram_account_id]

    def visible_pages(self, token: AccessToken) -> list[Page]:
        if token.kind == "instagram_user":
            return []
        ids = [token.subject_id] if token.kind == "page" else self.world.users[token.subject_id].page_ids
        return [self.world.pages[page_id] for page_id in ids]

    def reachable_account(self, token: AccessToken, account_id: str) -> InstagramAccount:
        if account_id not in self.visible_accounts(token):
            raise unknown_object(account_id)
        return self.world.accounts[account_id]

    def reachable_media(self, token: AccessToken, media_id: str) -> Media:
        media = self.world.media.get(media_id)
        if media is None or media.account_id not in self.visible_accounts(token):
            raise unknown_object(media_id)
        return media

    def live_stories(self, account: InstagramAccount) -> list[Media]:
        now = self.now()
        stories = (self.world.media[m] for m in account.story_ids)
        return [m for m in stories if now - m.timestamp < STORY_LIFETIME]

    @staticmethod
    def require(token: AccessToken, need: str) -> None:
        """Code 10 unless the token was granted every permission `need` takes (a declined scope is not granted)."""
        if any(scope not in token.scopes for scope in NEEDS[need][token.login]):
            raise no_permission()

    # budgets

    def charge(self, account_id: str | None, cost: Cost) -> None:
        """Count one call against the app and (for calls about an account) the account's budget."""
        now = self.now()
        self.budgets.app.admit(now, cost)
        if account_id is not None:
            account = self.world.accounts[account_id]
            self.budgets.account(account.id, account.impressions_24h).admit(now, cost)

    def block(self, *, code: int, minutes: float, account_id: str | None) -> None:
        if account_id is None:
            self.budgets.app.block(self.now(), code=code, minutes=minutes)
            return
        account = self.account(account_id)
        self.budgets.account(account.id, account.impressions_24h).block(self.now(), code=code, minutes=minutes)

    # webhooks

    def story_insights_event(self, media_id: str) -> dict[str, Any]:
        """The `story_insights` change Meta sends when a story expires (reference A4 Webhooks)."""
        media = self.world.media.get(media_id)
        if media is None or media.product_type != "STORY":
            raise KeyError(media_id)
        reach = max(media.viewers, 0)
        value = {
            "media_id": media.id,
            "exits": reach // 10,
            "impressions": reach + reach // 5,
            "reach": reach,
            "replies": reach // 50,
            "taps_forward": reach // 2,
            "taps_back": reach // 8,
        }
        entry = {
            "id": media.account_id,
            "time": int(self.now().timestamp()),
            "changes": [{"field": "story_insights", "value": value}],
        }
        return {"object": "instagram", "entry": [entry]}

    def expire_story(self, media_id: str) -> Media:
        media = self.world.media[media_id]
        media.timestamp = self.now() - STORY_LIFETIME - timedelta(seconds=1)
        return media
