"""Scheduled posts (internal API key): schedule, list, read, cancel. Published by the `publisher` worker."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl

from intplat_common.service import ApiKey, Pool

from .. import posts
from ..clock import Clock
from .deps import ConnectionStore, Settings

router = APIRouter(tags=["posts"], dependencies=[ApiKey])


class NewPost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    media_type: Literal["IMAGE", "REELS"] = "IMAGE"
    media_url: HttpUrl = Field(description="public https URL of the image (JPEG) or the reel's video")
    caption: str = Field(default="", max_length=posts.CAPTION_MAX)
    scheduled_at: AwareDatetime = Field(description="when to publish; in the future, within the horizon")


class Post(BaseModel):
    id: uuid.UUID
    account_id: str
    media_type: Literal["IMAGE", "REELS"]
    media_url: str
    caption: str
    scheduled_at: datetime
    status: Literal["queued", "sending", "unknown", "waiting", "published", "failed", "cancelled"]
    attempts: int
    container_id: str | None
    media_id: str | None
    permalink: str | None
    error: str | None
    created_at: datetime
    done_at: datetime | None


def _post(record: asyncpg.Record) -> Post:
    return Post.model_validate(dict(record))


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


@router.post("/v1/accounts/{account_id}/posts", status_code=201, responses={404: {}, 422: {}})
async def schedule_post(
    account_id: str, body: NewPost, request: Request, pool: Pool, connections: ConnectionStore, settings: Settings
) -> Post:
    if body.media_url.scheme != "https":
        raise HTTPException(422, "media_url must be https")
    now = _clock(request)()
    if not now < body.scheduled_at <= now + timedelta(days=settings.post_horizon_days):
        raise HTTPException(422, f"scheduled_at must be in the future, within {settings.post_horizon_days} days")
    if await connections.get(account_id) is None:
        raise HTTPException(404, "account not connected")
    async with pool.acquire() as conn, conn.transaction():
        record = await posts.schedule(
            conn, account_id=account_id, media_type=body.media_type, media_url=str(body.media_url),
            caption=body.caption, scheduled_at=body.scheduled_at, now=now,
        )  # fmt: skip
    return _post(record)


@router.get("/v1/accounts/{account_id}/posts")
async def list_posts(account_id: str, pool: Pool, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[Post]:
    return [_post(r) for r in await posts.of_account(pool, account_id, limit)]


@router.get("/v1/accounts/{account_id}/posts/{post_id}", responses={404: {}})
async def read_post(account_id: str, post_id: uuid.UUID, pool: Pool) -> Post:
    record = await posts.get(pool, account_id, post_id)
    if record is None:
        raise HTTPException(404, "no such post")
    return _post(record)


@router.delete("/v1/accounts/{account_id}/posts/{post_id}", status_code=204, responses={404: {}, 409: {}})
async def cancel_post(account_id: str, post_id: uuid.UUID, pool: Pool) -> Response:
    if await posts.cancel(pool, account_id, post_id):
        return Response(status_code=204)
    if await posts.get(pool, account_id, post_id) is None:
        raise HTTPException(404, "no such post")
    raise HTTPException(409, "the post has started or ended; it cannot be cancelled")
