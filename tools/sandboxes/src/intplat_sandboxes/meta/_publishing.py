"""Content publishing (optional in issue 11): a media container is created from a public URL, processed on the
sandbox clock (`status_code` IN_PROGRESS → FINISHED, ERROR, EXPIRED after 24 h unpublished), then published within the
account's publishing limit (a rolling 24 h quota, `content_publishing_limit`).

The sandbox's own triggers: a URL that is not https fails at creation (9004); a URL containing `corrupt` ends in
ERROR; reels take `REEL_PROCESSING` on the clock, images are ready at once."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from ._errors import GraphError, invalid_parameter
from ._models import InstagramAccount, Media

REEL_PROCESSING = timedelta(seconds=30)
CONTAINER_LIFETIME = timedelta(hours=24)
QUOTA_TOTAL = 100
QUOTA_DURATION = timedelta(hours=24)
StatusCode = Literal["IN_PROGRESS", "FINISHED", "ERROR", "EXPIRED", "PUBLISHED"]


@dataclass
class Container:
    id: str
    account_id: str
    kind: Literal["IMAGE", "REELS"]
    url: str
    caption: str
    created_at: datetime
    published_media_id: str | None = None

    def status_code(self, now: datetime) -> StatusCode:
        if self.published_media_id is not None:
            return "PUBLISHED"
        if "corrupt" in self.url:
            return "ERROR"
        if now - self.created_at >= CONTAINER_LIFETIME:
            return "EXPIRED"
        if self.kind == "REELS" and now - self.created_at < REEL_PROCESSING:
            return "IN_PROGRESS"
        return "FINISHED"

    def body(self, fields: list[str] | None, now: datetime) -> dict[str, Any]:
        code = self.status_code(now)
        values = {"id": self.id, "status_code": code, "status": "Error: 2207026" if code == "ERROR" else code}
        wanted = fields or ["id"]
        unknown = [f for f in wanted if f not in values]
        if unknown:
            raise invalid_parameter(f"Tried accessing nonexisting field ({unknown[0]}) on node type (IGContainer)")
        return {name: values[name] for name in wanted} | {"id": self.id}


class Publisher:
    def __init__(self) -> None:
        self.containers: dict[str, Container] = {}
        self._published: dict[str, list[datetime]] = {}
        self._container_ids = itertools.count(1)
        self._media_ids = itertools.count(5000)  # after the fixture's media numbers of an account
        self.quota_total = QUOTA_TOTAL

    def clear(self) -> None:
        self.containers.clear()
        self._published.clear()

    def create(self, account: InstagramAccount, params: dict[str, str], now: datetime) -> Container:
        media_type = params.get("media_type")
        if media_type not in (None, "REELS"):
            raise invalid_parameter("media_type must be REELS for a video (IMAGE needs no media_type)")
        key = "video_url" if media_type == "REELS" else "image_url"
        url = params.get(key)
        if not url:
            raise invalid_parameter(f"The parameter {key} is required.")
        if not url.startswith("https://"):
            raise GraphError("Media download has failed. The media URI doesn't meet our requirements.", 9004, 2207052)
        container_id = f"1780{account.id[5:]}{next(self._container_ids):04d}"
        kind: Literal["IMAGE", "REELS"] = "REELS" if media_type == "REELS" else "IMAGE"
        container = Container(container_id, account.id, kind, url, params.get("caption", ""), now)
        self.containers[container_id] = container
        return container

    def quota_usage(self, account_id: str, now: datetime) -> int:
        recent = [at for at in self._published.get(account_id, []) if now - at < QUOTA_DURATION]
        self._published[account_id] = recent
        return len(recent)

    def publish(self, account: InstagramAccount, creation_id: str | None, now: datetime) -> Media:
        container = self.containers.get(creation_id or "")
        if container is None or container.account_id != account.id:
            raise invalid_parameter("The parameter creation_id is required and must be a container of this account")
        if self.quota_usage(account.id, now) >= self.quota_total:
            raise GraphError(
                "Application request limit reached",
                9,
                2207042,
                user_msg="You reached maximum number of posts that is allowed to be published by Content Publishing "
                "API.",
            )
        if container.status_code(now) != "FINISHED":
            raise GraphError(
                "Media ID is not available",
                9007,
                2207027,
                user_msg="The media is not ready for publishing, please wait for a moment",
            )
        media = Media(
            id=f"1790{account.id[5:]}{next(self._media_ids):04d}",
            account_id=account.id,
            media_type="VIDEO" if container.kind == "REELS" else "IMAGE",
            product_type="REELS" if container.kind == "REELS" else "FEED",
            caption=container.caption,
            timestamp=now.replace(microsecond=0),
            like_count=0,
            comments_count=0,
            insights_ready=False,
        )
        container.published_media_id = media.id
        self._published.setdefault(account.id, []).append(now)
        return media

    def limit_body(self, account_id: str, now: datetime) -> dict[str, Any]:
        config = {"quota_total": self.quota_total, "quota_duration": int(QUOTA_DURATION.total_seconds())}
        return {"data": [{"quota_usage": self.quota_usage(account_id, now), "config": config}]}
