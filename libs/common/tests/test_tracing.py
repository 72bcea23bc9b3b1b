"""One trace across Kafka: a span around an outbox insert is the parent of the consumer's processing span."""

import asyncio
import contextlib

import asyncpg
import pytest
from intplat_devstack.testing import unique_topic
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from intplat_common import (
    ConsumedEvent,
    ConsumerRunner,
    OutboxMessage,
    OutboxRelay,
    create_producer,
    dlq_topic,
    enqueue,
)
from intplat_common.events import CloudEvent, to_kafka_headers

from .kafka_helpers import new_topics

pytestmark = pytest.mark.integration


async def test_trace_continues_from_outbox_insert_to_consumer_processing(kafka, pool, spans) -> None:
    from datetime import UTC, datetime

    topic, group = unique_topic("trace"), unique_topic("g")
    await new_topics(kafka.bootstrap_servers, topic, dlq_topic(group))
    tracer = trace.get_tracer("test")
    event = CloudEvent(id="evt_trace", source="/tests", type="com.intplat.test.v1", time=datetime.now(UTC))
    with tracer.start_as_current_span("POST /webhooks/stripe", kind=SpanKind.SERVER) as request_span:
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(
                conn,
                [
                    OutboxMessage(
                        topic=topic,
                        key="cus_1",
                        type="test",
                        payload={"a": 1},
                        headers={k: v.decode() for k, v in to_kafka_headers(event)},
                    )
                ],
            )
    request_ctx = request_span.get_span_context()

    relay = OutboxRelay(pool, lambda: create_producer(kafka.bootstrap_servers, "relay-trace"))
    assert await relay.publish_batch() == 1
    await relay.close()

    handled = asyncio.Event()
    seen_trace: list[int] = []

    async def handler(conn: asyncpg.Connection, consumed: ConsumedEvent) -> None:
        seen_trace.append(trace.get_current_span().get_span_context().trace_id)
        handled.set()

    runner = ConsumerRunner(
        group=group,
        topics=[topic],
        handler=handler,
        pool=pool,
        bootstrap_servers=kafka.bootstrap_servers,
    )
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(handled.wait(), 30)
    finally:
        await runner.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    finished = spans.get_finished_spans()
    process = [s for s in finished if s.name == f"{topic} process"]
    send = [s for s in finished if s.name == f"{topic} send"]
    assert len(process) == 1 and len(send) == 1
    assert process[0].kind == SpanKind.CONSUMER
    assert process[0].parent is not None
    assert process[0].parent.span_id == request_ctx.span_id
    assert process[0].context.trace_id == request_ctx.trace_id
    assert send[0].parent is not None and send[0].parent.span_id == request_ctx.span_id
    assert process[0].attributes is not None
    assert process[0].attributes["messaging.operation.type"] == "process"
    assert process[0].attributes["messaging.consumer.group.name"] == group
    assert seen_trace == [request_ctx.trace_id], "the handler runs inside the processing span"
