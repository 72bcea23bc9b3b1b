"""Consumer runner: at-least-once delivery made effectively-once by the inbox table, with retries and a DLQ.

For each record: one database transaction writes the inbox row `(consumer, event_id)` and the handler's own writes;
a duplicate (the row exists) is skipped, not re-applied. Kafka offsets are committed only after that transaction
committed. A handler that keeps failing is retried with exponential backoff and jitter, then the record goes to
`<group>.dlq` with the reason and attempt count in its headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, IllegalStateError, KafkaError
from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._correlation import reset_correlation_id, set_correlation_id
from .._kafka import create_producer
from ..events._cloudevents import CloudEvent, InvalidEnvelope, from_kafka_headers
from ._dlq import publish_dead_letter
from ._dlq_depth import watch_dlq_depth
from ._handler import ConsumedEvent, Handler, PoisonMessage, TransientError
from ._inbox import record_dead_lettered, record_processed

log = logging.getLogger(__name__)
tracer = trace.get_tracer("intplat_common.consumer")
meter = metrics.get_meter("intplat_common.consumer")
_processed = meter.create_counter("consumer_records_total", description="records by outcome")
_retries = meter.create_counter("consumer_retries_total", description="handler retries")
_RUNNERS: weakref.WeakSet[ConsumerRunner] = weakref.WeakSet()


def _observe_lag(_: CallbackOptions) -> Iterable[Observation]:
    return [
        Observation(lag, {"group": runner.group, "topic": tp.topic, "partition": str(tp.partition)})
        for runner in list(_RUNNERS)
        for tp, lag in runner.lag().items()
    ]


meter.create_observable_gauge(
    "consumer_lag_records",
    callbacks=[_observe_lag],
    description="records not yet processed per assigned partition: the highwater of the last fetch minus the next"
    " offset to process",
)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^(attempt-1))]."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._runner.commit_before_revoke(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned", extra={"fields": {"partitions": sorted(map(str, assigned))}})


class _StoppedAt(Exception):
    """Record `index` of a batch failed (a poison message when `poison` is set); its transaction is rolled back."""

    def __init__(self, index: int, poison: tuple[ConsumedEvent, PoisonMessage] | None) -> None:
        super().__init__(index)
        self.index = index
        self.poison = poison


class ConsumerRunner:
    def __init__(
        self,
        *,
        group: str,
        topics: Sequence[str],
        handler: Handler,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        retry: RetryPolicy | None = None,
        dlq_producer: AIOKafkaProducer | None = None,
        max_batch: int = 200,
        client_id: str | None = None,
        dlq_depth_interval: float = 30.0,
        **consumer_overrides: Any,
    ) -> None:
        self.group = group
        self.topics = list(topics)
        self._handler = handler
        self._pool = pool
        self._bootstrap = bootstrap_servers
        self._retry = retry or RetryPolicy()
        self._dlq_producer = dlq_producer
        self._own_dlq_producer = dlq_producer is None
        self._max_batch = max_batch
        self._client_id = client_id or f"{group}-consumer"
        self._overrides = consumer_overrides
        self._consumer: AIOKafkaConsumer | None = None
        self._processing = asyncio.Lock()
        self._pending: dict[TopicPartition, int] = {}
        # The next offset to process per assigned partition (unlike _pending, kept after the commit), for the lag.
        self._positions: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self._dlq_depth_interval = dlq_depth_interval
        self._dlq_depth: asyncio.Task[None] | None = None
        self.on_dead_letter: Callable[[ConsumedEvent | ConsumerRecord[Any, Any], str], Awaitable[None]] | None = None

    def _consumer_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "bootstrap_servers": self._bootstrap,
            "group_id": self.group,
            "client_id": self._client_id,
            "enable_auto_commit": False,  # offsets are committed after the handler's transaction, never before
            "auto_offset_reset": "earliest",  # a new group must not skip events already in the topic
            "isolation_level": "read_committed",
            "max_poll_interval_ms": 300_000,
            "session_timeout_ms": 10_000,
            "heartbeat_interval_ms": 3_000,
        }
        config.update(self._overrides)
        return config

    def lag(self) -> dict[TopicPartition, int]:
        """Records behind per assigned partition whose highwater is known (at least one fetch answered)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        assigned = consumer.assignment()
        lags: dict[TopicPartition, int] = {}
        for tp, position in list(self._positions.items()):
            if tp in assigned and (highwater := consumer.highwater(tp)) is not None:
                lags[tp] = max(0, highwater - position)
        return lags

    async def start(self) -> None:
        _RUNNERS.add(self)
        self._consumer = AIOKafkaConsumer(**self._consumer_config())
        self._consumer.subscribe(self.topics, listener=_Rebalance(self))
        await self._consumer.start()
        self._dlq_depth = asyncio.create_task(
            watch_dlq_depth(self.group, self._bootstrap, interval=self._dlq_depth_interval)
        )
        if self._dlq_producer is None:
            self._dlq_producer = create_producer(self._bootstrap, f"{self.group}-dlq")
            await self._dlq_producer.start()

    async def stop(self) -> None:
        """Graceful: finish the batch in progress, commit, leave the group."""
        self._stopping.set()
        async with self._processing:
            if self._consumer is not None:
                with contextlib.suppress(KafkaError):
                    await self._commit(None)
                await _stop_client(self._consumer)
                self._consumer = None
        self._positions.clear()
        if self._dlq_depth is not None:
            self._dlq_depth.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dlq_depth
            self._dlq_depth = None
        if self._own_dlq_producer and self._dlq_producer is not None:
            await self._dlq_producer.stop()
            self._dlq_producer = None

    async def run(self) -> None:
        """Start (if needed) and consume until `stop()` or cancellation."""
        if self._consumer is None:
            await self.start()
        assert self._consumer is not None
        try:
            while not self._stopping.is_set():
                await self._track_positions()
                try:
                    batches = await self._consumer.getmany(timeout_ms=500, max_records=self._max_batch)
                except ConsumerStoppedError:
                    break
                if not batches:
                    continue
                async with self._processing:
                    for tp, records in batches.items():
                        await self._process_partition(tp, records)
                    await self._commit(None)
        finally:
            if not self._stopping.is_set():
                await self.stop()

    async def _track_positions(self) -> None:
        """Between rounds every record handed out is settled, so the consumer's position is the next offset to
        process. Only partitions already fetched (a known highwater) are asked: their position is valid, so
        `position()` answers without a round trip."""
        assert self._consumer is not None
        assigned = self._consumer.assignment()
        for tp in list(self._positions):
            if tp not in assigned:
                del self._positions[tp]
        for tp in assigned:
            if self._consumer.highwater(tp) is not None:
                with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                    self._positions[tp] = await self._consumer.position(tp)

    def _settled(self, tp: TopicPartition, next_offset: int) -> None:
        self._pending[tp] = next_offset
        self._positions[tp] = next_offset

    async def _process_partition(self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Records in offset order: as many as possible in one transaction (one commit, one fsync, for the
        batch), and the first record that fails, alone with retries and the DLQ, before the batch goes on after
        it, so the partition's order holds."""
        self._positions[tp] = records[0].offset
        i = 0
        while i < len(records):
            # Stop early on shutdown or when the partition was revoked meanwhile: the uncommitted rest is read
            # again by whoever owns the partition next.
            if self._stopping.is_set() or not self._owns(tp):
                return
            settled, poison = await self._apply_together(records[i:])
            if settled:
                i += settled
                self._settled(tp, records[i - 1].offset + 1)
                continue
            if poison is not None:
                # Invalid input fails the same way every time: straight to the DLQ, the handler is not run again.
                await self._dead_letter(records[i], f"poison: {poison[1]}", attempts=1, event=poison[0])
            elif not await self._process(records[i]):
                return
            self._settled(tp, records[i].offset + 1)
            i += 1

    async def _apply_together(
        self, records: list[ConsumerRecord[Any, Any]]
    ) -> tuple[int, tuple[ConsumedEvent, PoisonMessage] | None]:
        """Applies the leading records that succeed at once in one transaction; returns how many, and the poison
        message at the head of the batch, if that is what stopped it.

        No savepoint per record (two statements each): when record k fails, the transaction is rolled back and
        records 0..k-1 are applied again without it. Handlers write only in the given transaction, so applying a
        record again this way repeats at most their reads elsewhere (the notifier's Stripe customer lookup); their
        processing spans then appear twice (the first attempt was rolled back with the batch).
        """
        limit = len(records)
        while True:
            try:
                return await self._apply_batch(records[:limit]), None
            except _StoppedAt as stop:
                if stop.index == 0:
                    return 0, stop.poison
                limit = stop.index

    async def _apply_batch(self, records: list[ConsumerRecord[Any, Any]]) -> int:
        """How many leading records were applied and committed; raises _StoppedAt (rolled back) when one fails."""
        applied: list[tuple[str, str]] = []
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                for index, record in enumerate(records):
                    try:
                        event = from_kafka_headers(list(record.headers or ()), record.value)
                    except InvalidEnvelope:
                        break  # the records before it are committed; the slow path dead-letters it
                    consumed = _consumed(record, event)
                    stopped: _StoppedAt | None = None
                    with self._span(record) as span:
                        span.set_attribute("messaging.message.id", event.id)
                        token = set_correlation_id(event.id)
                        try:
                            outcome = await self._apply_in(conn, consumed)
                        except PoisonMessage as exc:
                            span.set_status(Status(StatusCode.ERROR, str(exc)))
                            stopped = _StoppedAt(index, (consumed, exc))
                        except Exception as exc:  # rolled back; alone at the head, it goes the slow path
                            span.set_status(Status(StatusCode.ERROR, repr(exc)))
                            span.add_event("handler failed; batch rolled back", {"error": repr(exc)})
                            stopped = _StoppedAt(index, None)
                        else:
                            span.set_attribute("intplat.outcome", outcome)
                        finally:
                            reset_correlation_id(token)
                    if stopped is not None:
                        raise stopped  # outside the span: it records the handler's failure, not this signal
                    applied.append((record.topic, outcome))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return 0  # nothing committed: the slow path retries the first record until the database is back
        for topic, outcome in applied:
            _processed.add(1, {"group": self.group, "topic": topic, "outcome": outcome})
        return len(applied)

    def _span(self, record: ConsumerRecord[Any, Any]) -> Any:
        parent = propagate.extract({k: v.decode("latin-1") for k, v in (record.headers or ())})
        attributes = {
            "messaging.system": "kafka",
            "messaging.operation.name": "process",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.consumer.group.name": self.group,
        }
        return tracer.start_as_current_span(
            f"{record.topic} process", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )

    async def commit_before_revoke(self, partitions: set[TopicPartition]) -> None:
        """Called by the rebalance listener: waits for the batch in progress (held only while processing, never
        inside getmany, which is where aiokafka calls the listener), then commits what was processed."""
        async with self._processing:
            await self._commit(partitions)

    def _owns(self, tp: TopicPartition) -> bool:
        return self._consumer is not None and tp in self._consumer.assignment()

    async def _commit(self, partitions: set[TopicPartition] | None) -> None:
        if self._consumer is None or not self._pending:
            return
        offsets = {
            tp: off for tp, off in self._pending.items() if (partitions is None or tp in partitions) and self._owns(tp)
        }
        for tp in list(self._pending):
            if partitions is None or tp in partitions:
                del self._pending[tp]
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # The group rebalanced meanwhile; the next owner re-reads these records and the inbox skips them.
            log.warning("offset commit failed after a rebalance", extra={"fields": {"group": self.group}})

    async def _process(self, record: ConsumerRecord[Any, Any]) -> bool:
        """True when the record is settled (processed, duplicate or dead-lettered); False on shutdown."""
        with self._span(record) as span:
            try:
                event = from_kafka_headers(list(record.headers or ()), record.value)
            except InvalidEnvelope as exc:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                await self._dead_letter(record, f"invalid envelope: {exc}", attempts=0)
                return True
            span.set_attribute("messaging.message.id", event.id)
            consumed = _consumed(record, event)
            token = set_correlation_id(event.id)
            try:
                return await self._process_with_retries(consumed, record, span)
            finally:
                reset_correlation_id(token)

    async def _process_with_retries(
        self, consumed: ConsumedEvent, record: ConsumerRecord[Any, Any], span: trace.Span
    ) -> bool:
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and self._stopping.is_set():
                return False
            try:
                outcome = await self._apply(consumed)
                span.set_attribute("intplat.outcome", outcome)
                _processed.add(1, {"group": self.group, "topic": consumed.topic, "outcome": outcome})
                return True
            except PoisonMessage as exc:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                await self._dead_letter(record, f"poison: {exc}", attempts=attempt, event=consumed)
                return True
            except Exception as exc:
                transient = isinstance(exc, TransientError | OSError | asyncpg.InterfaceError)
                span.add_event("handler failed", {"attempt": attempt, "error": repr(exc)})
                if not transient and attempt >= self._retry.max_attempts:
                    span.set_status(Status(StatusCode.ERROR, repr(exc)))
                    reason = f"{type(exc).__name__}: {exc}"
                    await self._dead_letter(record, reason, attempts=attempt, event=consumed)
                    return True
                _retries.add(1, {"group": self.group, "topic": consumed.topic})
                log.warning(
                    "handler failed; retrying",
                    extra={
                        "fields": {
                            "attempt": attempt,
                            "error": repr(exc),
                            "event_id": consumed.event.id,
                        }
                    },
                )
                await asyncio.sleep(self._retry.delay(min(attempt, 10)))

    async def _apply(self, consumed: ConsumedEvent) -> str:
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._apply_in(conn, consumed)

    async def _apply_in(self, conn: asyncpg.Connection, consumed: ConsumedEvent) -> str:
        """The inbox row and the handler's writes, in the caller's transaction."""
        inserted = await record_processed(conn, self.group, consumed)
        if not inserted:
            return "duplicate"
        await self._handler(conn, consumed)
        return "processed"

    async def _dead_letter(
        self,
        record: ConsumerRecord[Any, Any],
        reason: str,
        *,
        attempts: int,
        event: ConsumedEvent | None = None,
    ) -> None:
        assert self._dlq_producer is not None
        await publish_dead_letter(self._dlq_producer, record, self.group, reason, attempts)
        if event is not None:
            async with self._pool.acquire() as conn:
                await record_dead_lettered(conn, self.group, event)
        _processed.add(1, {"group": self.group, "topic": record.topic, "outcome": "dead_lettered"})
        log.error(
            "record dead-lettered",
            extra={"fields": {"topic": record.topic, "offset": record.offset, "reason": reason}},
        )
        if self.on_dead_letter is not None:
            with contextlib.suppress(Exception):
                await self.on_dead_letter(event or record, reason)


def _consumed(record: ConsumerRecord[Any, Any], event: CloudEvent) -> ConsumedEvent:
    return ConsumedEvent(
        event=event,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode() if isinstance(record.key, bytes) else record.key,
        headers=dict(record.headers or ()),
    )


async def _stop_client(consumer: AIOKafkaConsumer) -> None:
    """Stop aiokafka's consumer. When the broker went away first (Ctrl-C stops it with everything else), its fetcher
    re-raises the cancellation of its own fetch task from `stop()`; only a cancellation of this task is passed on."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.warning("consumer stopped with its fetch task cancelled (the broker was gone)")
