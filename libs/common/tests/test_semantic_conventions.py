"""Spans carry the OpenTelemetry semantic conventions of the installed `opentelemetry-semantic-conventions` (the
names come from its modules, so an upgrade that renames one fails here): HTTP server and client, Kafka send and
process, PostgreSQL; no attribute of a span is one the installed conventions mark deprecated. Each attempt of a
provider call carries the provider, the operation, the attempt, the breaker state and the correlation id."""

from __future__ import annotations

import ast
import inspect
import itertools
from collections.abc import Iterable
from types import ModuleType

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from intplat_devstack.infra import KafkaServer
from intplat_devstack.testing import eventually, unique_topic
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import db_attributes as db_incubating
from opentelemetry.semconv._incubating.attributes import http_attributes as http_incubating
from opentelemetry.semconv._incubating.attributes import messaging_attributes as messaging
from opentelemetry.semconv._incubating.attributes import net_attributes
from opentelemetry.semconv.attributes import db_attributes as db
from opentelemetry.semconv.attributes import http_attributes as http
from opentelemetry.semconv.attributes import server_attributes as server
from opentelemetry.semconv.attributes import url_attributes as url
from opentelemetry.trace import SpanKind

from intplat_common import ProviderConfig, ProviderError, ResilientClient, instrument_app
from intplat_common._correlation import reset_correlation_id, set_correlation_id
from intplat_common._http import BREAKER_STATE, CORRELATION_ID, PROVIDER, PROVIDER_ATTEMPT, PROVIDER_OPERATION

from .kafka_helpers import enqueue_one, relay_and_consume_one


def deprecated(*modules: ModuleType) -> set[str]:
    """Attribute names the modules document as deprecated (the docstring that follows each constant), except the
    incubating copies of attributes that became stable ("Deprecated in favor of stable ...": the name stays)."""
    names: set[str] = set()
    for module in modules:
        body = ast.parse(inspect.getsource(module)).body
        for statement, following in itertools.pairwise(body):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.value, ast.Constant)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and str(following.value.value).strip().startswith("Deprecated")
                and "in favor of stable" not in str(following.value.value)
            ):
                names.add(str(statement.value.value))
    return names


DEPRECATED = deprecated(messaging, http_incubating, db_incubating, net_attributes)


def test_the_deprecation_reader_finds_the_renamed_attributes() -> None:
    assert {"messaging.kafka.message.offset", "http.method", "db.statement", "net.peer.name"} <= DEPRECATED
    assert not {messaging.MESSAGING_KAFKA_OFFSET, http.HTTP_REQUEST_METHOD, db.DB_SYSTEM_NAME} & DEPRECATED


def one(spans: Iterable[ReadableSpan], kind: SpanKind, name: str) -> ReadableSpan:
    found = [s for s in spans if s.kind == kind and s.name == name]
    assert len(found) == 1, [(s.kind, s.name) for s in spans]
    return found[0]


def assert_conventions(span: ReadableSpan, expected: dict[str, object], present: Iterable[str]) -> None:
    attributes = dict(span.attributes or {})
    assert {k: attributes.get(k) for k in expected} == expected, attributes
    assert set(present) <= attributes.keys(), attributes
    assert not DEPRECATED & attributes.keys(), f"deprecated attributes on {span.name}: {DEPRECATED & attributes.keys()}"


async def test_http_server_spans(spans: InMemorySpanExporter) -> None:
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    instrument_app(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc.test") as client:
        assert (await client.get("/v1/things/t1?page=2")).status_code == 200
    span = one(spans.get_finished_spans(), SpanKind.SERVER, "GET /v1/things/{thing_id}")
    assert_conventions(
        span,
        {
            http.HTTP_REQUEST_METHOD: "GET",
            http.HTTP_ROUTE: "/v1/things/{thing_id}",
            http.HTTP_RESPONSE_STATUS_CODE: 200,
            url.URL_PATH: "/v1/things/t1",
            url.URL_SCHEME: "http",
            url.URL_QUERY: "page=2",
        },
        [server.SERVER_ADDRESS],
    )


async def test_provider_call_spans_carry_the_conventions_and_the_call(spans: InMemorySpanExporter) -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"id": "srv"})])
    config = ProviderConfig(name="postmark-test", base_url="http://postmark.test:8102", backoff_base=0.001)
    client = ResilientClient(config, transport=httpx.MockTransport(lambda _: next(answers)))
    token = set_correlation_id("corr-123")
    try:
        await client.request("GET", "/server", operation="probe")
    finally:
        reset_correlation_id(token)
        await client.aclose()
    attempts = sorted(
        (s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT and s.name == "GET"),
        key=lambda s: s.start_time or 0,
    )
    assert len(attempts) == 2
    for number, (span, status) in enumerate(zip(attempts, (503, 200), strict=True), start=1):
        assert_conventions(
            span,
            {
                http.HTTP_REQUEST_METHOD: "GET",
                http.HTTP_RESPONSE_STATUS_CODE: status,
                url.URL_FULL: "http://postmark.test:8102/server",
                server.SERVER_ADDRESS: "postmark.test",
                server.SERVER_PORT: 8102,
                PROVIDER: "postmark-test",
                PROVIDER_OPERATION: "probe",
                PROVIDER_ATTEMPT: number,
                BREAKER_STATE: "closed",
                CORRELATION_ID: "corr-123",
            },
            [],
        )


async def test_a_breaker_trial_is_labelled_half_open(spans: InMemorySpanExporter) -> None:
    config = ProviderConfig(
        name="lexoffice-test", base_url="http://lexoffice.test", max_attempts=1, breaker_fail_max=1,
        breaker_reset_timeout=0.05,
    )  # fmt: skip
    client = ResilientClient(config, transport=httpx.MockTransport(lambda _: httpx.Response(503)))
    try:
        with pytest.raises(ProviderError, match="HTTP 503"):
            await client.request("GET", "/v1/profile")
        assert client.breaker.state == "open"

        async def trial_due() -> bool:
            return client.breaker.seconds_until_trial() == 0

        await eventually(trial_due, timeout=10, what="the breaker's trial")
        with pytest.raises(ProviderError, match="HTTP 503"):
            await client.request("GET", "/v1/profile")
    finally:
        await client.aclose()
    calls = [s.attributes or {} for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert [c.get(BREAKER_STATE) for c in calls] == ["closed", "half-open"]
    assert {c.get(PROVIDER_OPERATION) for c in calls} == {"GET /v1/profile"}, "by default: the method and the path"


@pytest.mark.integration
async def test_kafka_and_postgresql_spans(kafka: KafkaServer, pool: asyncpg.Pool, spans: InMemorySpanExporter) -> None:
    topic, group = unique_topic("semconv"), unique_topic("g")
    await enqueue_one(pool, topic)
    await relay_and_consume_one(kafka.bootstrap_servers, pool, topic, group)
    finished = spans.get_finished_spans()
    kafka_common = {messaging.MESSAGING_SYSTEM: "kafka", messaging.MESSAGING_DESTINATION_NAME: topic}
    assert_conventions(
        one(finished, SpanKind.PRODUCER, f"{topic} send"),
        {**kafka_common, messaging.MESSAGING_OPERATION_TYPE: "send", messaging.MESSAGING_KAFKA_MESSAGE_KEY: "cus_1"},
        [
            messaging.MESSAGING_OPERATION_NAME,
            messaging.MESSAGING_MESSAGE_ID,
            messaging.MESSAGING_DESTINATION_PARTITION_ID,
            messaging.MESSAGING_KAFKA_OFFSET,
        ],
    )
    assert_conventions(
        one(finished, SpanKind.CONSUMER, f"{topic} process"),
        {**kafka_common, messaging.MESSAGING_OPERATION_TYPE: "process", messaging.MESSAGING_CONSUMER_GROUP_NAME: group},
        [
            messaging.MESSAGING_OPERATION_NAME,
            messaging.MESSAGING_MESSAGE_ID,
            messaging.MESSAGING_DESTINATION_PARTITION_ID,
            messaging.MESSAGING_KAFKA_OFFSET,
        ],
    )
    queries = [s for s in finished if s.kind == SpanKind.CLIENT and (s.attributes or {}).get(db.DB_SYSTEM_NAME)]
    assert queries, "asyncpg's spans are recorded"
    for span in queries:
        assert_conventions(
            span,
            {db.DB_SYSTEM_NAME: "postgresql"},
            [db.DB_NAMESPACE, db.DB_QUERY_TEXT, server.SERVER_ADDRESS, server.SERVER_PORT],
        )
