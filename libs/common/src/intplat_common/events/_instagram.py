"""Events of instagram-sync, keyed by the Instagram account id."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from ._base import EventModel

SyncTier = Literal["daily", "hourly"]
SyncTrigger = Literal["backfill", "manual", "schedule"]
ExpiryReason = Literal["data_access_expiring", "permission_revoked", "token_expired", "token_expiring", "token_invalid"]


class InstagramSyncRequested(EventModel):
    """A due sync of one account's profile, media and insights over [window_start, window_end)."""

    TOPIC: ClassVar[str] = "instagram.sync.requested.v1"
    EVENT_TYPE: ClassVar[str] = "com.intplat.instagram.sync.requested.v1"

    account_id: str = Field(description="Instagram professional account id")
    tier: SyncTier = Field(description="sync cadence of the account's plan")
    window_start: AwareDatetime
    window_end: AwareDatetime
    requested_at: AwareDatetime
    trigger: SyncTrigger = "schedule"

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Self:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self

    def partition_key(self) -> str:
        return self.account_id


class InstagramConnectionExpiring(EventModel):
    """An account's token needs the client to reconnect (an expired token cannot be refreshed)."""

    TOPIC: ClassVar[str] = "instagram.connection.expiring.v1"
    EVENT_TYPE: ClassVar[str] = "com.intplat.instagram.connection.expiring.v1"

    account_id: str = Field(description="Instagram professional account id")
    username: str | None = None
    owner_customer_id: str | None = Field(default=None, description="Stripe customer id of the owner")
    owner_email: str | None = None
    expires_at: AwareDatetime = Field(
        description="when access ends or ended (revoked or invalid tokens: when that was detected)"
    )
    reason: ExpiryReason

    def partition_key(self) -> str:
        return self.account_id


PostOutcome = Literal["published", "failed"]


class InstagramPostPublished(EventModel):
    """A scheduled post's end: published (the new media id) or failed (the reason); new with content scheduling."""

    TOPIC: ClassVar[str] = "instagram.post.published.v1"
    EVENT_TYPE: ClassVar[str] = "com.intplat.instagram.post.published.v1"

    account_id: str = Field(description="Instagram professional account id")
    post_id: str = Field(description="instagram-sync's id of the scheduled post")
    status: PostOutcome
    media_type: Literal["IMAGE", "REELS"]
    scheduled_at: AwareDatetime
    media_id: str | None = Field(default=None, description="the published media (status published)")
    permalink: str | None = None
    reason: str | None = Field(default=None, description="why it failed (status failed)")
    finished_at: AwareDatetime

    def partition_key(self) -> str:
        return self.account_id
