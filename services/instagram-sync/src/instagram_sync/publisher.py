"""The effect provider that publishes scheduled posts: container → status → publishing limit → publish.

Each claim of a due post does as much as it can: create the container (once: its id is stored), read its
`status_code`, and publish when it is FINISHED and the account's `content_publishing_limit` has room. What cannot go
on yet parks the row (`Outcome.wait`): a container IN_PROGRESS (status reads back off), a full publishing limit
(read again later: a refused publish would only spend budget), the account's Graph budget blocked (until the block
ends). A publish whose answer was lost (`AmbiguousOutcome`) is `unknown`: `find_existing` asks the container whether
it was published before any new attempt, so a post is never published twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from intplat_common import AmbiguousOutcome, CircuitOpenError, ProviderError, enqueue
from intplat_common.effects import Outcome, OutcomeUnknown, ProviderUnavailable
from intplat_common.events import InstagramPostPublished

from .clock import Clock, utc_now
from .connections import Connection, Connections
from .events import outbox_message
from .graph import Blocked, GraphApi, PermissionMissing, Throttled, TokenInvalid
from .graph.errors import GraphError, TransientGraphError
from .graph.ports import Json
from .posts import PostRow
from .reconnect import reconnect_reason

log = logging.getLogger(__name__)
LIMIT_REACHED = 2207042  # error subcodes of media_publish: the publishing limit is full; the container is not ready
NOT_READY = 2207027


@dataclass(frozen=True)
class PublishOptions:
    poll_seconds: float = 5.0
    poll_max_seconds: float = 300.0
    limit_wait_seconds: float = 900.0


class PostPublisher:
    name = "meta-graph"
    max_batch = 1

    def __init__(
        self, pool: asyncpg.Pool, connections: Connections, graph: GraphApi, options: PublishOptions,
        *, clock: Clock = utc_now,
    ) -> None:  # fmt: skip
        self._pool = pool
        self._connections = connections
        self._graph = graph
        self._options = options
        self._clock = clock

    def row(self, record: asyncpg.Record) -> PostRow:
        return PostRow(**dict(record))

    def labels(self, row: PostRow) -> Mapping[str, str]:
        return {"media_type": row.media_type}

    async def find_existing(self, row: PostRow) -> str | None:
        if row.container_id is None:
            return None  # no container yet: nothing can have been published
        connection = await self._connections.get(row.account_id)
        if connection is None or not connection.active:
            return None  # `prepare` settles it
        try:
            status = await self._container_status(connection, row.container_id)
            if status != "PUBLISHED":
                return None
            media_id = await self._published_media(connection, row)
        except (GraphError, Blocked, ProviderError) as exc:
            raise ProviderUnavailable(f"cannot look the post up: {exc}") from exc
        await self._finish(row, "published", media_id=media_id)
        return media_id

    async def prepare(self, rows: Sequence[PostRow]) -> Sequence[Connection | Outcome]:
        prepared: list[Connection | Outcome] = []
        for row in rows:
            connection = await self._connections.get(row.account_id)
            if connection is None or not connection.active:
                reason = "not_connected" if connection is None else "needs_reconnect"
                prepared.append(await self._failed(row, reason))
            else:
                prepared.append(connection)
        return prepared

    async def attempt(self, row: PostRow, call: Connection) -> Outcome:
        try:
            return await self._advance(row, call)
        except (Throttled, Blocked):
            until = await self._graph.blocked_until(row.account_id)
            return Outcome.wait("Graph budget blocked", deadline_seconds=self._seconds_until(until))
        except TokenInvalid as exc:
            await self._connections.needs_reconnect(call, reconnect_reason(exc), str(exc), self._clock())
            return await self._failed(row, f"needs_reconnect: {exc}", code=exc.code)
        except PermissionMissing as exc:
            # The publish permission is optional at connect: without it only posts fail, the insights go on.
            return await self._failed(row, f"publish permission missing: {exc}", code=exc.code)
        except (AmbiguousOutcome, TransientGraphError) as exc:
            # Either may follow a publish Meta carried out: the container is read before anything is tried again.
            raise OutcomeUnknown(str(exc)) from exc
        except CircuitOpenError as exc:
            raise ProviderUnavailable(str(exc), breaker_open=True, retry_after=exc.retry_after) from exc
        except ProviderError as exc:
            raise ProviderUnavailable(str(exc)) from exc
        except GraphError as exc:
            if exc.subcode == LIMIT_REACHED:  # the limit filled between our read and the publish
                return Outcome.wait(str(exc), deadline_seconds=self._options.limit_wait_seconds)
            if exc.subcode == NOT_READY:
                return Outcome.wait(str(exc), deadline_seconds=self._options.poll_seconds)
            return await self._failed(row, str(exc), code=exc.code)

    async def attempt_batch(self, items: Sequence[tuple[PostRow, Connection]]) -> Sequence[Outcome]:
        return [await self.attempt(row, call) for row, call in items]

    # --- the steps ----------------------------------------------------------------------------------------------

    async def _advance(self, row: PostRow, connection: Connection) -> Outcome:
        container_id = row.container_id or await self._create_container(row, connection)
        status = await self._container_status(connection, container_id)
        if status == "IN_PROGRESS":
            polls = await self._pool.fetchval(
                "UPDATE instagram_posts SET polls = polls + 1 WHERE id = $1 RETURNING polls", row.id
            )
            pause = min(self._options.poll_max_seconds, self._options.poll_seconds * 2 ** max(0, polls - 1))
            return Outcome.wait("container IN_PROGRESS", deadline_seconds=pause)
        if status == "PUBLISHED":  # an earlier publish took effect after all
            media_id = await self._published_media(connection, row)
            await self._finish(row, "published", media_id=media_id)
            return Outcome.done(media_id)
        if status != "FINISHED":
            return await self._failed(row, f"container {status}")
        usage, total = await self._publishing_limit(connection)
        if usage >= total:
            return Outcome.wait(
                f"content publishing limit reached ({usage}/{total})",
                deadline_seconds=self._options.limit_wait_seconds,
            )
        body = await self._graph.create(
            connection.login, f"{row.account_id}/media_publish", connection.token, {"creation_id": container_id},
            account_id=row.account_id,
        )  # fmt: skip
        media_id = str(body["id"])
        permalink = await self._permalink(connection, media_id)
        await self._finish(row, "published", media_id=media_id, permalink=permalink)
        return Outcome.done(media_id)

    async def _create_container(self, row: PostRow, connection: Connection) -> str:
        params = {"caption": row.caption}
        if row.media_type == "REELS":
            params |= {"media_type": "REELS", "video_url": row.media_url}
        else:
            params["image_url"] = row.media_url
        # An ambiguous create leaves at most an unpublished container behind, which Meta expires after 24 h.
        body = await self._graph.create(
            connection.login, f"{row.account_id}/media", connection.token, params, account_id=row.account_id
        )
        container_id = str(body["id"])
        await self._pool.execute("UPDATE instagram_posts SET container_id = $2 WHERE id = $1", row.id, container_id)
        return container_id

    async def _container_status(self, connection: Connection, container_id: str) -> str:
        body = await self._get(connection, container_id, {"fields": "status_code"})
        return str(body.get("status_code"))

    async def _publishing_limit(self, connection: Connection) -> tuple[int, int]:
        body = await self._get(
            connection, f"{connection.account_id}/content_publishing_limit", {"fields": "quota_usage,config"}
        )
        data = (body.get("data") or [{}])[0]
        return int(data.get("quota_usage", 0)), int((data.get("config") or {}).get("quota_total", 100))

    async def _published_media(self, connection: Connection, row: PostRow) -> str:
        """The media a lost publish answer created: the account's newest media with this post's caption."""
        body = await self._get(connection, f"{row.account_id}/media", {"fields": "id,caption", "limit": "25"})
        for item in body.get("data") or []:
            if (item.get("caption") or "") == row.caption:
                return str(item["id"])
        return f"container:{row.container_id}"

    async def _permalink(self, connection: Connection, media_id: str) -> str | None:
        try:
            body = await self._get(connection, media_id, {"fields": "permalink"})
        except (GraphError, Blocked, ProviderError) as exc:
            log.info("permalink not read", extra={"fields": {"media_id": media_id, "error": str(exc)}})
            return None
        permalink = body.get("permalink")
        return str(permalink) if permalink else None

    async def _get(self, connection: Connection, path: str, params: dict[str, str]) -> Json:
        return await self._graph.get(connection.login, path, connection.token, params, account_id=connection.account_id)

    # --- results --------------------------------------------------------------------------------------------------

    async def _failed(self, row: PostRow, reason: str, *, code: int | None = None) -> Outcome:
        await self._finish(row, "failed", reason=reason)
        return Outcome.dead(reason, code=code, status="failed")

    async def _finish(
        self, row: PostRow, status: str, *, media_id: str | None = None, permalink: str | None = None,
        reason: str | None = None,
    ) -> None:  # fmt: skip
        """The result on the row and its event, in one transaction; the ledger then settles the row's status."""
        event = InstagramPostPublished(
            account_id=row.account_id, post_id=str(row.id), status="published" if status == "published" else "failed",
            media_type=row.media_type, scheduled_at=row.scheduled_at, media_id=media_id, permalink=permalink,
            reason=reason, finished_at=self._clock(),
        )  # fmt: skip
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE instagram_posts SET provider_ref = COALESCE(provider_ref, $2), permalink = $3 WHERE id = $1",
                row.id,
                media_id,
                permalink,
            )
            message = outbox_message(event, event_id=f"{row.id}-{status}", subject=row.account_id)
            await enqueue(conn, [message])

    def _seconds_until(self, until: datetime | None) -> float:
        if until is None:
            return self._options.poll_seconds
        return max(self._options.poll_seconds, (until - self._clock()).total_seconds())
