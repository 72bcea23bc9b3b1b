"""Media insights `GET /{ig-media-id}/insights` (reference A2, C1.7): the metrics valid per media product type,
album children without insights, pre-conversion media (100/2108006), stories under 5 viewers (code 10), stories past
their 24 h and data not ready yet (an empty data set)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ._errors import GraphError, invalid_parameter, must_be_one_of
from ._models import Media
from ._values import split, stable_int

STORY_LIFETIME = timedelta(hours=24)
NAVIGATION_ACTIONS = ["swipe_forward", "tap_back", "tap_exit", "tap_forward"]
MEDIA_METRICS: dict[str, tuple[str, ...]] = {
    "FEED": (
        "comments", "follows", "likes", "profile_visits", "reach", "saved", "shares", "total_interactions", "views",
    ),
    "CAROUSEL_ALBUM": ("follows", "profile_visits", "reach", "saved", "shares", "total_interactions", "views"),
    "REELS": (
        "comments", "ig_reels_avg_watch_time", "ig_reels_video_view_total_time", "likes", "reach", "saved", "shares",
        "total_interactions", "views",
    ),
    "STORY": ("follows", "navigation", "profile_visits", "reach", "replies", "shares", "total_interactions", "views"),
}  # fmt: skip


def insight_kind(media: Media) -> str:
    if media.product_type in ("STORY", "REELS"):
        return media.product_type
    return "CAROUSEL_ALBUM" if media.media_type == "CAROUSEL_ALBUM" else "FEED"


def media_insights(media: Media, params: dict[str, str], *, now: datetime) -> dict[str, Any]:
    if media.album_id is not None:
        raise invalid_parameter("Insights are not available for media inside a carousel album")
    metrics = [m for m in (params.get("metric") or "").split(",") if m]
    if not metrics:
        raise invalid_parameter("The parameter metric is required")
    allowed = MEDIA_METRICS[insight_kind(media)]
    for index, name in enumerate(metrics):
        if name not in allowed:
            raise must_be_one_of(f"metric[{index}]", list(allowed))
    breakdown = params.get("breakdown")
    if breakdown is not None and (breakdown != "story_navigation_action_type" or metrics != ["navigation"]):
        raise invalid_parameter("breakdown story_navigation_action_type is only supported for the metric navigation")
    if media.posted_before_conversion:
        raise GraphError(
            "(#100) Invalid parameter",
            100,
            2108006,
            user_title="Media Posted Before Business Account Conversion",
            user_msg="The media was posted before the most recent time that the user's account was converted to a "
            "business account from a personal account.",
        )
    if media.product_type == "STORY" and media.viewers < 5:
        raise GraphError("(#10) Not enough viewers for the media to show insights", 10)
    expired_story = media.product_type == "STORY" and now - media.timestamp > STORY_LIFETIME
    if expired_story or not media.insights_ready:
        return {"data": []}
    return {"data": [_item(media, name, breakdown) for name in metrics]}


def _item(media: Media, name: str, breakdown: str | None) -> dict[str, Any]:
    value = stable_int(media.id, name, low=0, high=max(5, media.like_count * 3))
    item: dict[str, Any] = {
        "name": name,
        "period": "lifetime",
        "title": name.replace("_", " ").capitalize(),
        "description": f"{name} of the media",
        "id": f"{media.id}/insights/{name}/lifetime",
    }
    if breakdown is None:
        item["values"] = [{"value": value}]
        return item
    results = [
        {"dimension_values": [action], "value": share}
        for action, share in split(value, NAVIGATION_ACTIONS, media.id, name)
    ]
    item["total_value"] = {"value": value, "breakdowns": [{"dimension_keys": [breakdown], "results": results}]}
    return item
