"""Transactional outbox: rows written in the caller's transaction, published by one relay in commit order per key."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import asyncpg
from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._tasks import finish_task

log = logging.getLogger(__name__)
tracer = trace.get_tracer("intplat_common.outbox")
meter = metrics.get_meter("intplat_common.outbox")
_published = meter.create_counter("outbox_published_total", description="outbox rows published")
_failures = meter.create_counter("outbox_publish_failures_total", description="failed publish rounds")
# Observable callbacks run synchronously at export time: they report what each leading relay last measured.
_RELAYS: weakref.WeakSet[OutboxRelay] = weakref.WeakSet()


def _observe(field_name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(_: CallbackOptions) -> Iterable[Observation]:
        return [Observation(getattr(r.backlog, field_name)) for r in list(_RELAYS) if r.stats.leader]

    return observe


meter.create_observable_gauge(
    "outbox_pending", callbacks=[_observe("rows")], description="outbox rows not yet published (leading relay)"
)
meter.create_observable_gauge(
    "outbox_oldest_pending_age_seconds",
    callbacks=[_observe("oldest_seconds")],
    unit="s",
    description="age of the oldest unpublished outbox row (leading relay)",
)

NOTIFY_CHANNEL = "outbox"  # also spelled out in _ENQUEUE
RELAY_LOCK_ID = 0x1A7E_0002


@dataclass(frozen=True)
class OutboxMessage:
    topic: str
    key: str
    type: str
    payload: Mapping[str, Any] | str  # a str is already-serialised JSON, published byte for byte
    aggregatetype: str = "event"
    headers: Mapping[str, str] = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=uuid.uuid4)


# One statement, one round trip: the per-key locks, the rows, the wake-up of the relay.
# Rows with the same key must reach Kafka in commit order. `seq` is taken at insert time, not at commit, so two
# transactions for one key could commit in the opposite order of their seq; holding a per-key advisory lock until
# commit makes seq order equal commit order for each key. The locks are taken (sorted, so two writers cannot
# deadlock) by the `locked` InitPlan, which PostgreSQL evaluates before the first row reaches the insert, i.e.
# before any seq is drawn.
@functools.cache
def _outbox_sql(first: int, insert: str | None) -> str:
    """The enqueue statement, its parameters numbered from `first`; after the caller's `insert` when there is one.

    With `insert`, the outbox rows are kept for the ids it inserted, and the guard waits for that whole insert, so
    its row locks are taken before the advisory locks (the same order in every writer).
    """
    p = [f"${first + i}" for i in range(9)]
    after = "WHERE (SELECT count(*) FROM recorded) >= 0" if insert else ""
    guard = "AND guard IN (SELECT id FROM recorded)" if insert else ""
    # `notified` runs only if the result reads it (a plain SELECT in a WITH is not executed otherwise).
    result = "SELECT id FROM recorded WHERE" if insert else "SELECT"
    # Assembled from constants and the caller's own SQL text (never from input).
    return f"""
WITH {f"recorded AS ({insert})," if insert else ""}
locked AS (
    SELECT count(*) AS n FROM (
        SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest({p[8]}::text[]) AS k {after} ORDER BY k
    ) AS l
), inserted AS (
    INSERT INTO outbox (id, aggregatetype, aggregateid, type, topic, payload, headers)
    SELECT id, aggregatetype, aggregateid, type, topic, payload, headers::jsonb
    FROM unnest({p[0]}::uuid[], {p[1]}::text[], {p[2]}::text[], {p[3]}::text[], {p[4]}::text[], {p[5]}::text[],
                {p[6]}::text[], {p[7]}::text[])
         WITH ORDINALITY AS m(id, aggregatetype, aggregateid, type, topic, payload, headers, guard, ord)
    WHERE (SELECT n FROM locked) >= 0 {guard}
    ORDER BY ord
    RETURNING 1
), notified AS (
    SELECT pg_notify('outbox', '') FROM (SELECT count(*) FROM inserted) AS c
)
{result} (SELECT count(*) FROM notified) >= 0
"""  # noqa: S608


def _outbox_args(messages: Sequence[OutboxMessage], guards: Sequence[str | None]) -> list[Any]:
    # The current trace context is stored with each row so the consumer's processing span continues this trace.
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [
        [m.id for m in messages],
        [m.aggregatetype for m in messages],
        [m.key for m in messages],
        [m.type for m in messages],
        [m.topic for m in messages],
        [m.payload if isinstance(m.payload, str) else json.dumps(m.payload, separators=(",", ":")) for m in messages],
        [json.dumps({**carrier, **m.headers}) for m in messages],
        list(guards),
        sorted({m.key for m in messages}),
    ]


async def enqueue(conn: asyncpg.Connection, messages: Sequence[OutboxMessage]) -> None:
    """Insert messages in the caller's open transaction; they are published only if it commits."""
    if messages:
        await conn.execute(_outbox_sql(1, None), *_outbox_args(messages, [None] * len(messages)))


async def insert_and_enqueue(
    conn: asyncpg.Connection,
    insert: str,
    args: Sequence[Any],
    messages: Sequence[OutboxMessage],
    guards: Sequence[str],
    *,
    statement_timeout: float | None = None,
) -> set[str]:
    """The idempotent receiver in one statement: run `insert` (an `INSERT ... ON CONFLICT DO NOTHING RETURNING id`
    with parameters $1..$len(args)) and enqueue each message whose guard is one of the ids it inserted.

    One statement is one implicit transaction when the caller has none open: no BEGIN/COMMIT round trips. Returns
    the inserted ids.
    """
    if len(guards) != len(messages):
        raise ValueError("one guard per message")
    rows = await conn.fetch(
        _outbox_sql(len(args) + 1, insert), *args, *_outbox_args(messages, guards), timeout=statement_timeout
    )
    return {row["id"] for row in rows}


class RelayProducer(Protocol):
    """What the relay calls on its producer: aiokafka's (`create_producer`, what the services use) or another client
    behind the same calls (bench/outbox_relay.py measures confluent-kafka's). `send` returns once the record is
    queued; the awaitable it returns resolves when the broker acknowledged it, to something with the record's
    `partition` and `offset`."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self, topic: str, *, value: bytes, key: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> Awaitable[Any]: ...


@dataclass
class OutboxBacklog:
    rows: int = 0
    oldest_seconds: float = 0.0


@dataclass
class RelayStats:
    published: int = 0
    rounds_failed: int = 0
    leader: bool = False


class OutboxRelay:
    """Publishes committed outbox rows; deletes them only after the broker acknowledged them.

    One active relay per database (a session advisory lock elects it); a broker outage leaves rows waiting and the
    relay retries with backoff until the broker answers again.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer_factory: Callable[[], RelayProducer],
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        send_timeout: float = 30.0,
        max_backoff: float = 5.0,
        backlog_interval: float = 5.0,
    ) -> None:
        """`backlog_interval`: how often the leader counts the waiting rows for the backlog gauges."""
        self._pool = pool
        self._producer_factory = producer_factory
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._send_timeout = send_timeout
        self._max_backoff = max_backoff
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._producer: RelayProducer | None = None
        self.stats = RelayStats()
        self.backlog = OutboxBacklog()
        self._backlog_interval = backlog_interval
        self._backlog_at = -backlog_interval
        _RELAYS.add(self)

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self, runner: asyncio.Task[None], grace: float = 10.0) -> None:
        """Graceful: the round in progress finishes (a producer start is not torn mid-way), then the relay exits."""
        self._stopping.set()
        self._wakeup.set()
        await finish_task(runner, grace)
        await self.close()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def run(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _raise_if_cancelling(exc)
                self.stats.leader = False
                log.warning("outbox relay interrupted", extra={"fields": {"error": repr(exc)}})
                await self._close_producer()
                await self._pause(backoff * (1 + random.random()))
                backoff = min(backoff * 2, self._max_backoff)
            else:
                backoff = 0.1

    async def _lead(self) -> None:
        conn: asyncpg.Connection = await self._pool.acquire()
        try:
            # Standby: poll for the lock; the leader's session ending (crash, shutdown) releases it.
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_ID):
                if self._stopping.is_set():
                    return
                await self._pause(self._poll_interval)
            self.stats.leader = True
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            try:
                await self._publish_loop(conn)
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener(NOTIFY_CHANNEL, self._on_notify)
                    await conn.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK_ID)
        finally:
            self.stats.leader = False
            if conn.is_closed():
                # Terminating hands a dead connection back to the pool; releasing it would warn of the listener
                # that could not be removed from it, and leave it checked out (pool.close() would then wait forever).
                conn.terminate()
            else:
                await self._pool.release(conn, timeout=5)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _publish_loop(self, leader_conn: asyncpg.Connection) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            if leader_conn.is_closed():
                raise ConnectionError("leader connection lost")
            if self._pool.is_closing():  # the batches run on leader_conn: hand it back so the pool can close
                raise ConnectionError("pool closing")
            # Measured before the batch, so a broker outage (every batch failing) still shows a growing backlog.
            await self._measure_backlog(leader_conn)
            self._wakeup.clear()
            try:
                published = await self.publish_batch(leader_conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                raise
            except Exception as exc:
                _raise_if_cancelling(exc)
                self.stats.rounds_failed += 1
                _failures.add(1)
                log.warning("outbox publish failed; rows kept", extra={"fields": {"error": repr(exc)}})
                await self._close_producer()
                await self._pause(backoff * (1 + random.random()))
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = 0.1
            if published >= self._batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)

    async def _measure_backlog(self, conn: asyncpg.Connection) -> None:
        now = time.monotonic()
        if now - self._backlog_at < self._backlog_interval:
            return
        self._backlog_at = now
        row = await conn.fetchrow(
            "SELECT count(*) AS rows, coalesce(extract(epoch FROM now() - ("
            "SELECT created_at FROM outbox ORDER BY seq LIMIT 1)), 0)::float8 AS oldest FROM outbox"
        )
        assert row is not None
        self.backlog = OutboxBacklog(rows=row["rows"], oldest_seconds=max(0.0, row["oldest"]))

    async def _get_producer(self) -> RelayProducer:
        if self._producer is None:
            producer = self._producer_factory()
            try:
                await asyncio.wait_for(producer.start(), self._send_timeout)
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), 5)
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    async def close(self) -> None:
        await self._close_producer()

    async def publish_batch(self, conn: asyncpg.Connection | None = None) -> int:
        """Claim up to batch_size rows, publish them, delete the acknowledged ones. Returns how many were deleted.

        The leader passes the connection that holds its leadership lock: the batch then lives and dies with the
        lock. Were it on another connection, a leader whose lock connection dropped could still be publishing while
        a new leader, skipping the rows it holds, published the same keys' later rows first.
        """
        async with contextlib.AsyncExitStack() as stack:
            if conn is None:
                conn = cast(asyncpg.Connection, await stack.enter_async_context(self._pool.acquire()))
            await stack.enter_async_context(conn.transaction())
            rows = await conn.fetch(
                "SELECT id, aggregateid, type, topic, payload, headers FROM outbox"
                " ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            producer = await self._get_producer()
            results = await self._send_all(producer, rows)
            acked: list[uuid.UUID] = []
            failed_keys: set[str] = set()
            first_error: BaseException | None = None
            for row, result in zip(rows, results, strict=True):
                key = row["aggregateid"]
                if isinstance(result, BaseException):
                    failed_keys.add(key)
                    first_error = first_error or result
                # A row after a failed row of the same key stays unpublished too, so the key's order holds.
                elif key not in failed_keys:
                    acked.append(row["id"])
            if acked:
                await conn.execute("DELETE FROM outbox WHERE id = ANY($1::uuid[])", acked)
            self.stats.published += len(acked)
            _published.add(len(acked))
        if first_error is not None:
            raise first_error
        return len(acked)

    async def _send_all(self, producer: RelayProducer, rows: Sequence[asyncpg.Record]) -> list[Any]:
        futures: list[Awaitable[Any]] = []
        spans = []
        send_error: BaseException | None = None
        for row in rows:
            headers: dict[str, str] = row["headers"]
            parent = propagate.extract(headers)
            span = tracer.start_span(
                f"{row['topic']} send",
                context=parent,
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.name": "send",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": row["topic"],
                    "messaging.kafka.message.key": row["aggregateid"],
                    "messaging.message.id": str(row["id"]),
                },
            )
            spans.append(span)
            # The stored traceparent is published unchanged: the consumer's processing span becomes a child
            # of the span that wrote the outbox row (the webhook request), not of this relay.
            kafka_headers = [(k, v.encode()) for k, v in headers.items()]
            kafka_headers.append(("outbox_id", str(row["id"]).encode()))
            if send_error is not None:
                futures.append(_failed_future(send_error))
                continue
            try:
                # asyncio.timeout rather than wait_for: no task per record (send only blocks without metadata).
                async with asyncio.timeout(self._send_timeout):
                    fut = await producer.send(
                        row["topic"],
                        value=row["payload"].encode(),
                        key=row["aggregateid"].encode(),
                        headers=kafka_headers,
                    )
            except Exception as exc:
                # The broker is unreachable: the remaining rows are not even tried this round.
                send_error = exc
                fut = _failed_future(exc)
            futures.append(fut)
        try:
            results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), self._send_timeout)
        except TimeoutError as exc:
            results = [exc] * len(futures)
        for span, result in zip(spans, results, strict=True):
            if isinstance(result, BaseException):
                span.set_status(Status(StatusCode.ERROR, repr(result)))
                span.set_attribute("error.type", type(result).__name__)
            else:
                span.set_attribute("messaging.destination.partition.id", str(result.partition))
                span.set_attribute("messaging.kafka.offset", result.offset)
            span.end()
        return list(results)


def _raise_if_cancelling(exc: Exception) -> None:
    """A cancel can surface as another error: cancelled mid-batch on a connection that died, the transaction's
    rollback fails and its error replaces the CancelledError. Swallowing it would keep a stopped relay running."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


def _failed_future(exc: BaseException) -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    fut.set_exception(exc)
    return fut
