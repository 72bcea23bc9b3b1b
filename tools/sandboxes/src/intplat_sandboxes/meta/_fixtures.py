"""The sandbox's Meta world: two Facebook users, their Pages (one without Instagram), and four Instagram
professional accounts (one small, one reachable only through Instagram Login), with media of every type."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from ._models import FacebookUser, InstagramAccount, Media, MediaType, Page, ProductType

ADA_USER_ID = "10000000000000001"
BO_USER_ID = "10000000000000002"
BAKERY_PAGE_ID = "100000000000101"
OLD_PAGE_ID = "100000000000102"
TINY_PAGE_ID = "100000000000103"
BO_PAGE_ID = "100000000000201"
BAKERY_ACCOUNT_ID = "17841400000000001"
TINY_ACCOUNT_ID = "17841400000000002"
BO_ACCOUNT_ID = "17841400000000003"
CREATOR_ACCOUNT_ID = "17841400000000004"
# Accounts added on request (benchmarks: many connected accounts), each with its own Facebook user and Page.
ADDED_ACCOUNT_PREFIX = "17842"


@dataclass
class World:
    users: dict[str, FacebookUser]
    pages: dict[str, Page]
    accounts: dict[str, InstagramAccount]
    media: dict[str, Media]

    def owner(self, account: InstagramAccount) -> str | None:
        """The Facebook user whose Page the account is linked to (None: reachable through Instagram Login only)."""
        return next((user.id for user in self.users.values() if account.page_id in user.page_ids), None)


_KINDS: tuple[tuple[MediaType, ProductType], ...] = (
    ("IMAGE", "FEED"),
    ("VIDEO", "REELS"),
    ("CAROUSEL_ALBUM", "FEED"),
    ("IMAGE", "FEED"),
    ("VIDEO", "REELS"),
)


def build_world(now: datetime) -> World:
    users = {
        ADA_USER_ID: FacebookUser(ADA_USER_ID, "Ada Client", [BAKERY_PAGE_ID, OLD_PAGE_ID, TINY_PAGE_ID]),
        BO_USER_ID: FacebookUser(BO_USER_ID, "Bo Client", [BO_PAGE_ID]),
    }
    pages = {
        BAKERY_PAGE_ID: Page(BAKERY_PAGE_ID, "Ada's Bakery", "Bakery", BAKERY_ACCOUNT_ID),
        OLD_PAGE_ID: Page(OLD_PAGE_ID, "Ada's Old Page", "Local business", None),
        TINY_PAGE_ID: Page(TINY_PAGE_ID, "Tiny Shop", "Shopping & retail", TINY_ACCOUNT_ID),
        BO_PAGE_ID: Page(BO_PAGE_ID, "Bo's Studio", "Design", BO_ACCOUNT_ID),
    }
    accounts = {
        BAKERY_ACCOUNT_ID: InstagramAccount(
            BAKERY_ACCOUNT_ID, "ada.bakery", "Ada's Bakery", "Sourdough every morning", "https://bakery.example",
            followers_count=1520, follows_count=180, impressions_24h=2400, page_id=BAKERY_PAGE_ID,
        ),
        TINY_ACCOUNT_ID: InstagramAccount(
            TINY_ACCOUNT_ID, "tiny.shop", "Tiny Shop", "", "",
            followers_count=42, follows_count=60, impressions_24h=35, page_id=TINY_PAGE_ID,
        ),
        BO_ACCOUNT_ID: InstagramAccount(
            BO_ACCOUNT_ID, "bo.studio", "Bo's Studio", "Posters and prints", "https://bo.example",
            followers_count=5300, follows_count=410, impressions_24h=9100, page_id=BO_PAGE_ID,
        ),
        CREATOR_ACCOUNT_ID: InstagramAccount(
            CREATOR_ACCOUNT_ID, "creator.studio", "Creator Studio", "Reels about reels", "",
            followers_count=880, follows_count=95, impressions_24h=1300, page_id=None,
        ),
    }  # fmt: skip
    media: dict[str, Media] = {}
    for account, count in ((BAKERY_ACCOUNT_ID, 23), (TINY_ACCOUNT_ID, 3), (BO_ACCOUNT_ID, 8), (CREATOR_ACCOUNT_ID, 12)):
        _add_media(accounts[account], count, media, now)
    return World(users, pages, accounts, media)


def add_accounts(
    world: World, count: int, *, now: datetime, followers_count: int, impressions_24h: int, media_count: int
) -> list[InstagramAccount]:
    """`count` more accounts, each linked to a Page of its own Facebook user (so either login reaches it)."""
    first = 1 + sum(1 for account_id in world.accounts if account_id.startswith(ADDED_ACCOUNT_PREFIX))
    added = []
    for n in range(first, first + count):
        account_id, user_id, page_id = f"{ADDED_ACCOUNT_PREFIX}{n:012d}", f"2000{n:013d}", f"300{n:012d}"
        world.users[user_id] = FacebookUser(user_id, f"Client {n}", [page_id])
        world.pages[page_id] = Page(page_id, f"Shop {n}", "Shopping & retail", account_id)
        account = InstagramAccount(
            account_id, f"shop.{n}", f"Shop {n}", "", "", followers_count=followers_count,
            follows_count=followers_count // 10, impressions_24h=impressions_24h, page_id=page_id,
        )  # fmt: skip
        world.accounts[account_id] = account
        _add_media(account, media_count, world.media, now)
        added.append(account)
    return added


def _add_media(account: InstagramAccount, count: int, media: dict[str, Media], now: datetime) -> None:
    """`count` posts a day apart (newest first) and one live story; the bakery also gets a post from before its
    business conversion, a story with too few viewers (only under `/stories`) and a post whose insights are not
    ready yet."""
    rng = random.Random(account.id)
    prefix = account.id[5:]

    def add(item: Media) -> Media:
        media[item.id] = item
        return item

    story = add(_post(f"1790{prefix}0000", account, ("IMAGE", "STORY"), now - timedelta(hours=3), rng))
    account.media_ids.append(story.id)
    account.story_ids.append(story.id)
    for n in range(count):
        kind = _KINDS[n % len(_KINDS)]
        post = add(_post(f"1790{prefix}{n + 1:04d}", account, kind, now - timedelta(days=n, hours=5), rng))
        account.media_ids.append(post.id)
        if kind[0] == "CAROUSEL_ALBUM":
            for c in range(2):
                child = add(_post(f"{post.id}{c + 1}", account, ("IMAGE", "FEED"), post.timestamp, rng))
                child.album_id = post.id
                post.children.append(child.id)
    if account.id == BAKERY_ACCOUNT_ID:
        media[account.media_ids[1]].insights_ready = False
        media[account.media_ids[-1]].posted_before_conversion = True
        shy = add(_post(f"1790{prefix}9999", account, ("VIDEO", "STORY"), now - timedelta(hours=1), rng))
        shy.viewers = 3
        account.story_ids.insert(0, shy.id)


def _post(
    media_id: str, account: InstagramAccount, kind: tuple[MediaType, ProductType], at: datetime, rng: random.Random
) -> Media:
    scale = max(1, account.followers_count // 50)
    return Media(
        id=media_id,
        account_id=account.id,
        media_type=kind[0],
        product_type=kind[1],
        caption=f"{account.name}: {kind[1].lower()} {media_id[-4:]}",
        timestamp=at.replace(microsecond=0),
        like_count=rng.randint(0, 10 * scale),
        comments_count=rng.randint(0, scale),
    )
