"""What the fake Meta holds: Facebook users and their Pages, Instagram professional accounts and their media."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

MediaType = Literal["IMAGE", "VIDEO", "CAROUSEL_ALBUM"]
ProductType = Literal["FEED", "REELS", "STORY", "AD"]


@dataclass
class FacebookUser:
    id: str
    name: str
    page_ids: list[str]


@dataclass
class Page:
    id: str
    name: str
    category: str
    instagram_account_id: str | None
    """The linked Instagram professional account; None for a Page without one (reference A1 discovery)."""


@dataclass
class Media:
    id: str
    account_id: str
    media_type: MediaType
    product_type: ProductType
    caption: str
    timestamp: datetime
    like_count: int
    comments_count: int
    children: list[str] = field(default_factory=list)
    album_id: str | None = None
    """Set on a carousel child: album children have no insights."""
    posted_before_conversion: bool = False
    """Insights answer code 100 subcode 2108006 (reference A2)."""
    viewers: int = 1000
    """A story with fewer than 5 viewers answers code 10 (reference A2)."""
    insights_ready: bool = True
    """False: insights come back as an empty data set (delayed up to 48 h)."""


@dataclass
class InstagramAccount:
    id: str
    username: str
    name: str
    biography: str
    website: str
    followers_count: int
    follows_count: int
    impressions_24h: int
    """Drives the Business Use Case budget: 4800 calls per impression per 24 h (reference A3)."""
    page_id: str | None
    media_ids: list[str] = field(default_factory=list)
    """Newest first, as `/{ig-user-id}/media` lists them (album children not included; one story, as the reference's
    C1.5 mixes product types)."""
    story_ids: list[str] = field(default_factory=list)
    """What `/{ig-user-id}/stories` lists while they are under 24 h old."""

    @property
    def profile_picture_url(self) -> str:
        return f"https://scontent.sandbox.invalid/{self.id}/profile.jpg"

    @property
    def small(self) -> bool:
        """Under 100 followers `follower_count`, `online_followers` and demographics are empty (reference A2)."""
        return self.followers_count < 100
