"""One trace across Kafka: a span around an outbox insert is the parent of the consumer's processing span."""

import pytest
from intplat_devstack.testing import unique_topic
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from .kafka_helpers import enqueue_one, relay_and_consume_one

pytestmark = pytest.mark.integration


async def test_trace_continues_from_outbox_insert_to_consumer_processing(kafka, pool, spans) -> None:
    topic, group = unique_topic("trace"), unique_topic("g")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("POST /webhooks/stripe", kind=SpanKind.SERVER) as request_span:
        await enqueue_one(pool, topic)
    request_ctx = request_span.get_span_context()
    seen_trace = await relay_and_consume_one(kafka.bootstrap_servers, pool, topic, group)

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
