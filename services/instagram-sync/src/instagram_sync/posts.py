"""Scheduled posts (issue 11 point 7): stored as rows of the `instagram_posts` effect ledger, due at their time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from intplat_common.effects import EffectTable

MediaType = Literal["IMAGE", "REELS"]
CAPTION_MAX = 2200  # Meta's caption limit (characters)

POSTS = EffectTable(
    name="instagram_posts",
    channel="instagram_posts",
    columns=(
        "id", "claim_token", "attempts", "needs_check", "traceparent", "account_id", "media_type", "media_url",
        "caption", "scheduled_at", "container_id", "polls",
    ),
    done_status="published",
    dead_status="failed",
)  # fmt: skip


@dataclass(frozen=True)
class PostRow:
    id: uuid.UUID
    claim_token: uuid.UUID | None
    attempts: int
    needs_check: bool
    traceparent: str | None
    account_id: str
    media_type: MediaType
    media_url: str
    caption: str
    scheduled_at: datetime
    container_id: str | None
    polls: int


_VIEW = """
    SELECT id, account_id, media_type, media_url, caption, scheduled_at, status, attempts, container_id,
           provider_ref AS media_id, permalink, error, created_at, done_at
    FROM instagram_posts
"""


async def schedule(
    conn: asyncpg.Connection,
    *,
    account_id: str,
    media_type: MediaType,
    media_url: str,
    caption: str,
    scheduled_at: datetime,
    now: datetime,
) -> asyncpg.Record:
    """A new post, due when the service clock reaches `scheduled_at` (the delay is applied to the database clock,
    which the ledger's worker goes by)."""
    post_id = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO instagram_posts (id, effect_key, kind, account_id, media_type, media_url, caption, scheduled_at,
                                     next_attempt_at)
        VALUES ($1, $8, 'publish', $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
        """,
        post_id,
        account_id,
        media_type,
        media_url,
        caption,
        scheduled_at,
        max(0.0, (scheduled_at - now).total_seconds()),
        f"post:{post_id}",
    )
    await conn.execute(f"NOTIFY {POSTS.channel}")
    record = await conn.fetchrow(f"{_VIEW} WHERE id = $1", post_id)
    assert record is not None
    return record


async def get(pool: asyncpg.Pool, account_id: str, post_id: uuid.UUID) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await pool.fetchrow(
        f"{_VIEW} WHERE account_id = $1 AND id = $2",
        account_id,
        post_id,
    )
    return record


async def of_account(pool: asyncpg.Pool, account_id: str, limit: int) -> list[asyncpg.Record]:
    records: list[asyncpg.Record] = await pool.fetch(
        f"{_VIEW} WHERE account_id = $1 ORDER BY scheduled_at DESC LIMIT $2",
        account_id,
        limit,
    )
    return records


async def cancel(pool: asyncpg.Pool, account_id: str, post_id: uuid.UUID) -> bool:
    """Only a post nothing was sent for yet: queued, never claimed, no container."""
    result: str = await pool.execute(
        """
        UPDATE instagram_posts SET status = 'cancelled', updated_at = now()
        WHERE account_id = $1 AND id = $2 AND status = 'queued' AND attempts = 0 AND container_id IS NULL
        """,
        account_id,
        post_id,
    )
    return result.endswith(" 1")
