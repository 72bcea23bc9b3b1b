"""Recording webhook events once, with their outbox rows, in batches of concurrent requests (group commit).

Every request waits for the commit of the batch it joined, so a 2xx still means "durably recorded". Batching is
what lets one database keep up with many concurrent deliveries: one transaction and one `unnest` insert carry
every event that arrived while the previous batch was committing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from opentelemetry import metrics, trace

from intplat_common import HeldConnection, OutboxMessage, enqueue, insert_and_enqueue

from ..webhooks.ingest import IncomingEvent

log = logging.getLogger(__name__)
meter = metrics.get_meter("stripe_gateway.webhooks")
tracer = trace.get_tracer("stripe_gateway.webhooks")
_batch_size = meter.create_histogram("webhook_write_batch_size", description="events per group commit")

_INSERT = """
INSERT INTO webhook_events (id, type, api_version, livemode, created, raw_payload, status, mapped_topic, error,
                            source_ip)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::inet[])
ON CONFLICT (id) DO NOTHING
RETURNING id"""


# A batch that takes longer has a problem (a half-open connection, a lock held elsewhere): answer 503, Stripe retries.
STATEMENT_TIMEOUT_SECONDS = 10.0


class StorageUnavailable(Exception):
    """The database could not record the event; nothing was written (answered with 503, Stripe retries)."""


@dataclass
class _Pending:
    event: IncomingEvent
    done: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    requested_by: trace.SpanContext = field(default_factory=lambda: trace.get_current_span().get_span_context())


class WebhookWriter:
    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = 256, writers: int = 2) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._run(), name=f"webhook-writer-{i}") for i in range(writers)]

    async def record(self, event: IncomingEvent) -> bool:
        """True when the event was new, False for a duplicate. Raises StorageUnavailable."""
        pending = _Pending(event)
        await self._queue.put(pending)
        return await pending.done

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Requests still waiting get their 503 (Stripe retries) instead of hanging until the server kills them.
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.done.done():
                pending.done.set_exception(StorageUnavailable("shutting down"))

    async def _run(self) -> None:
        # Each writer task keeps one connection: acquiring from the pool per batch costs a reset round trip.
        conn = HeldConnection(self._pool)
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < self._max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                # One transaction serves many requests: its span links to each request's span, not one parent.
                links = [trace.Link(p.requested_by) for p in batch if p.requested_by.is_valid]
                try:
                    with tracer.start_as_current_span(
                        "webhook_events record", links=links, attributes={"webhook.batch.size": len(batch)}
                    ):
                        new_ids = await conn.run(functools.partial(_record, events=[p.event for p in batch]))
                except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                    for pending in batch:
                        if not pending.done.done():
                            pending.done.set_exception(StorageUnavailable("shutting down"))
                    raise
                except Exception as exc:  # whatever it was, the writer lives on and the requests get their 503
                    fields = {"error": repr(exc), "size": len(batch)}
                    expected = isinstance(exc, OSError | asyncpg.PostgresError | asyncpg.InterfaceError | TimeoutError)
                    log.log(
                        logging.WARNING if expected else logging.ERROR,
                        "webhook batch not recorded",
                        extra={"fields": fields},
                        exc_info=not expected,
                    )
                    for pending in batch:
                        if not pending.done.done():
                            pending.done.set_exception(StorageUnavailable(repr(exc)))
                    await conn.release()
                    continue
                _batch_size.record(len(batch))
                answered: set[str] = set()
                for pending in batch:
                    event_id = pending.event.event_id
                    is_new = event_id in new_ids and event_id not in answered
                    answered.add(event_id)
                    if not pending.done.done():
                        pending.done.set_result(is_new)
        finally:
            await conn.release()


async def record_events(pool: asyncpg.Pool, events: Sequence[IncomingEvent]) -> set[str]:
    """One statement (one transaction): insert the events (duplicates skipped) and the outbox rows of the new ones."""
    async with pool.acquire(timeout=5) as conn:
        return await _record(conn, events)


async def _record(conn: asyncpg.Connection, events: Sequence[IncomingEvent]) -> set[str]:
    # Sorted by id: two batches inserting the same ids in opposite orders would wait on each other (deadlock).
    unique = sorted({e.event_id: e for e in reversed(events)}.values(), key=lambda e: e.event_id)
    # Outbox rows in arrival order (the order Kafka gets them in for each customer), once per event; the statement
    # keeps those of the events it inserted.
    messages: list[OutboxMessage] = []
    guards: list[str] = []
    queued: set[str] = set()
    for event in events:
        if event.event_id not in queued:
            queued.add(event.event_id)
            messages.extend(event.messages)
            guards.extend(event.event_id for _ in event.messages)
    return await insert_and_enqueue(
        conn,
        _INSERT,
        [
            [e.event_id for e in unique],
            [e.type for e in unique],
            [e.api_version for e in unique],
            [e.livemode for e in unique],
            [e.created for e in unique],
            [e.raw for e in unique],
            ["mapping_failed" if e.mapping_error else "accepted" for e in unique],
            [e.mapped_topic for e in unique],
            [e.mapping_error for e in unique],
            [e.source_ip for e in unique],
        ],
        messages,
        guards,
        statement_timeout=STATEMENT_TIMEOUT_SECONDS,
    )


@dataclass(frozen=True)
class StoredEvent:
    id: str
    type: str
    api_version: str | None
    livemode: bool
    created: datetime
    received_at: datetime
    status: str
    mapped_topic: str | None
    error: str | None
    replay_count: int


_COLUMNS = "id, type, api_version, livemode, created, received_at, status, mapped_topic, error, replay_count"


async def list_events(
    pool: asyncpg.Pool,
    *,
    type: str | None,
    status: str | None,
    received_after: datetime | None,
    received_before: datetime | None,
    limit: int,
) -> list[StoredEvent]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM webhook_events"  # noqa: S608 - column list is a constant
        " WHERE ($1::text IS NULL OR type = $1) AND ($2::text IS NULL OR status = $2)"
        " AND ($3::timestamptz IS NULL OR received_at >= $3) AND ($4::timestamptz IS NULL OR received_at < $4)"
        " ORDER BY received_at DESC, id LIMIT $5",
        type,
        status,
        received_after,
        received_before,
        limit,
    )
    return [StoredEvent(**dict(r)) for r in rows]


async def get_raw(pool: asyncpg.Pool, event_id: str) -> str | None:
    raw: str | None = await pool.fetchval("SELECT raw_payload FROM webhook_events WHERE id = $1", event_id)
    return raw


async def known_ids(pool: asyncpg.Pool, event_ids: Sequence[str]) -> set[str]:
    rows = await pool.fetch("SELECT id FROM webhook_events WHERE id = ANY($1::text[])", list(event_ids))
    return {r["id"] for r in rows}


async def replay(pool: asyncpg.Pool, event: IncomingEvent) -> None:
    """Publish a recorded event again through the outbox (new outbox ids, same CloudEvents ids: consumers that
    already processed it skip it), and record the mapping outcome of this attempt."""
    async with pool.acquire(timeout=5) as conn, conn.transaction():
        await conn.execute(
            "UPDATE webhook_events SET replay_count = replay_count + 1, last_replayed_at = now(),"
            " status = $2, mapped_topic = $3, error = $4 WHERE id = $1",
            event.event_id,
            "mapping_failed" if event.mapping_error else "accepted",
            event.mapped_topic,
            event.mapping_error,
        )
        await enqueue(conn, list(event.messages))


def to_json(event: StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "api_version": event.api_version,
        "livemode": event.livemode,
        "created": event.created.isoformat(),
        "received_at": event.received_at.isoformat(),
        "status": event.status,
        "mapped_topic": event.mapped_topic,
        "error": event.error,
        "replay_count": event.replay_count,
    }
