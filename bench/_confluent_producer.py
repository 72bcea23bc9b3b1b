"""confluent-kafka (librdkafka, in C) behind the calls the outbox relay makes on its producer (`RelayProducer`), so
bench/outbox_relay.py can measure the relay's CPU per record with it against aiokafka's.

librdkafka sends from its own threads; its delivery reports are served by `poll`. While records await their report,
a task on the event loop calls `poll(0)` every millisecond, so the callbacks resolve the records' futures on the
loop's thread (no thread of ours, no hand-over between threads). A future resolves only when the broker acknowledged
its record (acks=all) or librdkafka gave the record up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

# librdkafka's names for what PRODUCER_SAFETY sets on aiokafka; applied last, so no caller can weaken them.
# Idempotence also caps in-flight requests at 5 and retries without reordering: each key's order holds.
SAFETY: dict[str, str | int | bool] = {"acks": "all", "enable.idempotence": True}
_POLL_INTERVAL = 0.001
_QUEUE_FULL_PAUSE = 0.005


@dataclass(frozen=True)
class DeliveredRecord:
    partition: int
    offset: int


class ConfluentProducer:
    """start / send / stop as the relay calls them on an aiokafka producer (same settings as `producer_config`:
    linger 5 ms, no compression, acks=all, idempotence); `send` returns a future of the record's partition and
    offset."""

    def __init__(self, bootstrap_servers: str, client_id: str, *, timeout: float = 15.0) -> None:
        """`timeout`: for the broker's first answer at start, a request, a record's delivery, and the flush at stop."""
        self._config: dict[str, str | int | bool] = {
            "bootstrap.servers": bootstrap_servers,
            "client.id": client_id,
            "linger.ms": 5,
            "request.timeout.ms": int(timeout * 1000),
            "message.timeout.ms": int(timeout * 1000),
            "compression.type": "none",
            **SAFETY,
        }
        self._timeout = timeout
        self._producer: Producer | None = None
        self._awaiting = 0  # records sent whose delivery report has not been served yet
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Fails, as aiokafka's start does, when no broker answers a metadata request in time."""
        producer = Producer(self._config)
        try:
            await asyncio.to_thread(producer.list_topics, timeout=self._timeout)
        except KafkaException:
            producer.purge()
            raise
        self._producer = producer

    async def send(
        self, topic: str, *, value: bytes, key: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> asyncio.Future[DeliveredRecord]:
        if self._producer is None:
            raise RuntimeError("producer not started")
        future: asyncio.Future[DeliveredRecord] = asyncio.get_running_loop().create_future()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            self._awaiting -= 1
            if future.done():
                return
            if err is None:
                future.set_result(DeliveredRecord(msg.partition() or 0, msg.offset() or 0))
            else:
                future.set_exception(KafkaException(err))

        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=delivered, headers=list(headers))
                break
            except BufferError:  # librdkafka's local queue is full: deliveries free it
                self._producer.poll(0)
                await asyncio.sleep(_QUEUE_FULL_PAUSE)
        self._awaiting += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(self._producer))
        return future

    async def stop(self) -> None:
        """Waits for what is in flight (up to the timeout); what is left then fails."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        deadline = time.monotonic() + self._timeout
        while self._awaiting and time.monotonic() < deadline:
            producer.poll(0)
            await asyncio.sleep(_POLL_INTERVAL)
        producer.purge()
        producer.poll(0)  # serves the purged records' reports: their futures fail
        if self._poller is not None:
            self._poller.cancel()

    async def _poll(self, producer: Producer) -> None:
        while self._awaiting:
            await asyncio.sleep(_POLL_INTERVAL)
            producer.poll(0)
