"""The Meta Graph sandbox: users, Pages, Instagram accounts, tokens, budgets and webhooks of one Meta app, and the
behaviour both logins and the Graph API share (the factory adds the HTTP routes)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from intplat_sandboxes.framework import PeriodicFlush, SandboxApp, SandboxClock, create_sandbox_app

from ._budget import Budget, Budgets, Cost
from ._errors import no_permission, unknown_object
from ._fixtures import ADA_USER_ID, BAKERY_ACCOUNT_ID, World, add_accounts, build_world
from ._media_insights import STORY_LIFETIME
from ._models import InstagramAccount, Media, Page
from ._paging import PagingQuirks
from ._publishing import Publisher
from ._tokens import (
    FACEBOOK_LONG_LIVED_SECONDS,
    INSTAGRAM_LONG_LIVED_SECONDS,
    SHORT_LIVED_SECONDS,
    AccessToken,
    Consent,
    Login,
    TokenKind,
    TokenStore,
)
from ._webhooks import WebhookSender

log = logging.getLogger(__name__)

DEFAULT_VERSIONS = ("v22.0", "v23.0", "v24.0", "v25.0", "v26.0")
SUBSCRIBE_RETRY_SECONDS = 5.0
FACEBOOK_SCOPES = frozenset(
    {"instagram_basic", "instagram_manage_insights", "pages_show_list", "pages_read_engagement",
     "instagram_content_publish", "business_management", "ads_read", "ads_management"}
)  # fmt: skip
INSTAGRAM_SCOPES = frozenset(
    {"instagram_business_basic", "instagram_business_manage_insights", "instagram_business_content_publish",
     "instagram_business_manage_messages", "instagram_business_manage_comments"}
)  # fmt: skip
# What reading insights takes per login; Facebook Login for Business grants these for a `config_id` (the
# configuration fixes the permissions), and minted tokens carry them.
INSIGHTS_SCOPES: dict[Login, tuple[str, ...]] = {
    "facebook": ("instagram_basic", "instagram_manage_insights", "pages_show_list", "pages_read_engagement"),
    "instagram": ("instagram_business_basic", "instagram_business_manage_insights"),
}
# Permission each kind of read needs, per login (reference A1 table).
NEEDS: dict[str, dict[Login, tuple[str, ...]]] = {
    "basic": {"facebook": ("instagram_basic",), "instagram": ("instagram_business_basic",)},
    "insights": {
        "facebook": ("instagram_basic", "instagram_manage_insights", "pages_read_engagement"),
        "instagram": ("instagram_business_basic", "instagram_business_manage_insights"),
    },
    "pages": {"facebook": ("pages_show_list",), "instagram": ()},
    "publish": {
        "facebook": ("instagram_basic", "instagram_content_publish"),
        "instagram": ("instagram_business_basic", "instagram_business_content_publish"),
    },
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
        require_appsecret_proof: bool = False,
        webhook_subscription: tuple[str, str] | None = None,
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
        self.require_appsecret_proof = require_appsecret_proof
        """The App Dashboard's "Require App Secret": Graph calls without `appsecret_proof` are refused."""
        self.webhooks = WebhookSender(self.app.clock, app_secret, timeout=webhook_timeout)
        self.webhook_subscription = webhook_subscription
        """(callback URL, verify token) to subscribe while served, as saving the App Dashboard's webhook settings
        would (`make run`: instagram-sync's route); retried until the callback answers the challenge."""
        self._next_subscribe_attempt = 0.0
        self.publisher = Publisher()
        self.subscribed_fields: dict[str, set[str]] = {}
        """Per Instagram account, the webhook fields the app subscribed to (`POST /{id}/subscribed_apps`)."""
        self._expiry_notified: set[str] = set()
        self._background = PeriodicFlush("meta-sandbox-webhooks", self.flush_webhooks, 0.05)
        self.app.on_reset(self._clear)
        self.app.while_served(self.start, self.stop)

    def _clear(self) -> None:
        self.world = build_world(self.now())
        self.tokens.clear()
        self.budgets = Budgets(app=self._app_budget)
        self.paging.clear()
        self.next_login = NextLogin()
        self.webhooks.clear()
        self.publisher.clear()
        self.subscribed_fields.clear()
        self._expiry_notified.clear()

    async def start(self) -> None:
        self._background.start()

    async def stop(self) -> None:
        await self._background.stop()

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

    def add_accounts(
        self, count: int, *, followers_count: int = 1000, impressions_24h: int = 1000, media_count: int = 10
    ) -> list[InstagramAccount]:
        return add_accounts(
            self.world, count, now=self.now(), followers_count=followers_count, impressions_24h=impressions_24h,
            media_count=media_count,
        )  # fmt: skip

    def mint_token(self, login: Login, subject_id: str, *, long_lived: bool = True) -> AccessToken:
        """A token as the login would give it (the insights scopes), without the dialog: a Facebook user's or an
        Instagram account's."""
        known = self.world.users if login == "facebook" else self.world.accounts
        if subject_id not in known:
            raise KeyError(subject_id)
        lifetime = SHORT_LIVED_SECONDS
        if long_lived:
            lifetime = FACEBOOK_LONG_LIVED_SECONDS if login == "facebook" else INSTAGRAM_LONG_LIVED_SECONDS
        kind: TokenKind = "user" if login == "facebook" else "instagram_user"
        consent = Consent(subject_id, list(INSIGHTS_SCOPES[login]), [])
        return self.tokens.issue(kind, consent, now=self.now(), lifetime_seconds=lifetime, long_lived=long_lived)

    def publish(self, account: InstagramAccount, creation_id: str | None) -> Media:
        """Publish a finished container: the new post leads the account's media list."""
        media = self.publisher.publish(account, creation_id, self.now())
        self.world.media[media.id] = media
        account.media_ids.insert(0, media.id)
        return media

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

    def expired_stories(self) -> list[Media]:
        """Stories past their 24 h on accounts subscribed to `story_insights` that Meta has not reported yet."""
        now = self.now()
        stories = (
            self.world.media[story_id]
            for account_id, fields in self.subscribed_fields.items()
            if "story_insights" in fields
            for story_id in self.world.accounts[account_id].story_ids
            if story_id not in self._expiry_notified
        )
        return [story for story in stories if now - story.timestamp >= STORY_LIFETIME]

    async def flush_webhooks(self) -> int:
        """Send the `story_insights` webhook of every story that expired (Meta: "when Stories expire"), once each,
        to the verified callback; returns how many were sent."""
        if self.webhooks.callback_url is None and self.webhook_subscription is not None:
            await self._try_subscribe(*self.webhook_subscription)
        if self.webhooks.callback_url is None:
            return 0
        expired = self.expired_stories()
        for story in expired:
            self._expiry_notified.add(story.id)
            await self.webhooks.send(self.story_insights_event(story.id))
        return len(expired)

    async def _try_subscribe(self, callback_url: str, verify_token: str) -> None:
        # Real time, not the sandbox clock: the callback's service starts (or not) in real time.
        if time.monotonic() < self._next_subscribe_attempt:
            return
        self._next_subscribe_attempt = time.monotonic() + SUBSCRIBE_RETRY_SECONDS
        verification = await self.webhooks.subscribe(callback_url, verify_token)
        if not verification.verified:
            log.info("webhook callback not verified yet", extra={"fields": {"url": callback_url}})

    def expire_story(self, media_id: str) -> Media:
        media = self.world.media[media_id]
        media.timestamp = self.now() - STORY_LIFETIME - timedelta(seconds=1)
        return media
