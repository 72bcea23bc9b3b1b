"""CloudEvents 1.0 Kafka binary content mode: headers, value, round trips and invalid envelopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

import intplat_common.events as events
from intplat_common.events import (
    CloudEvent,
    InvalidEnvelope,
    format_time,
    from_kafka_headers,
    parse_time,
    to_kafka_headers,
    to_kafka_value,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
OTHER_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
T0 = datetime(2026, 3, 1, 12, 30, 5, 123000, tzinfo=UTC)


def make(**overrides: object) -> CloudEvent:
    fields: dict[str, object] = {
        "id": "evt_1",
        "source": "/stripe-gateway",
        "type": "com.intplat.billing.invoice.paid.v1",
        "time": T0,
        "subject": "in_1",
        "data": {"invoice_id": "in_1", "total": 1190, "name": "Zoë"},
    }
    fields.update(overrides)
    return CloudEvent(**fields)  # type: ignore[arg-type]


def encoded(event: CloudEvent, **kwargs: str) -> tuple[list[tuple[str, bytes]], bytes]:
    return to_kafka_headers(event, **kwargs), to_kafka_value(event)


def without(headers: list[tuple[str, bytes]], name: str) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in headers if k != name]


def replaced(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [*without(headers, name), (name, value)]


def test_public_api_is_pinned() -> None:
    assert events.__all__ == [
        "BILLING_PARTITIONS",
        "DECIMAL_PATTERN",
        "DEFAULT_PARTITIONS",
        "EVENT_MODELS",
        "TOPICS",
        "Address",
        "BillingEvent",
        "BookkeepingDocumentSynced",
        "CheckoutCompleted",
        "CheckoutLineItem",
        "CloudEvent",
        "Currency",
        "CustomerDetails",
        "DecimalString",
        "EventHandler",
        "EventModel",
        "EventPart",
        "EventRouter",
        "ExpiryReason",
        "InstagramConnectionExpiring",
        "InstagramPostPublished",
        "InstagramSyncRequested",
        "InvalidEnvelope",
        "InvoiceLine",
        "InvoicePaid",
        "InvoiceTax",
        "Metadata",
        "MinorUnits",
        "PaymentFailed",
        "RefundSucceeded",
        "StripeEventData",
        "StripeEventEnvelope",
        "SubscriptionItem",
        "SubscriptionUpdated",
        "TaxId",
        "TopicSpec",
        "asyncapi_document",
        "breaking_changes",
        "dlq_topic",
        "format_time",
        "from_kafka_headers",
        "parse_payload",
        "parse_time",
        "render_schema",
        "to_cloud_event",
        "to_kafka_headers",
        "to_kafka_value",
        "topic_schema",
    ]
    for name in events.__all__:
        assert getattr(events, name) is not None


def test_headers_in_binary_mode() -> None:
    headers = to_kafka_headers(make(), traceparent=TRACEPARENT, tracestate="congo=t61rcWkgMzE")
    assert headers == [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"evt_1"),
        ("ce_source", b"/stripe-gateway"),
        ("ce_type", b"com.intplat.billing.invoice.paid.v1"),
        ("ce_time", b"2026-03-01T12:30:05.123000Z"),
        ("ce_subject", b"in_1"),
        ("content-type", b"application/json"),
        ("traceparent", TRACEPARENT.encode()),
        ("tracestate", b"congo=t61rcWkgMzE"),
    ]
    assert json.loads(to_kafka_value(make())) == {
        "invoice_id": "in_1",
        "total": 1190,
        "name": "Zoë",
    }


def test_round_trip_with_subject_and_trace_context() -> None:
    event = make()
    headers, value = encoded(event, traceparent=TRACEPARENT, tracestate="a=1")
    decoded = from_kafka_headers(headers, value)
    assert decoded == event
    assert (decoded.id, decoded.source, decoded.type, decoded.subject) == (
        "evt_1",
        "/stripe-gateway",
        "com.intplat.billing.invoice.paid.v1",
        "in_1",
    )
    assert decoded.time == T0
    assert decoded.time.utcoffset() == timedelta(0)
    assert decoded.data == event.data
    assert (decoded.traceparent, decoded.tracestate) == (TRACEPARENT, "a=1")
    # carried through: re-encoding the decoded event keeps the trace context
    assert from_kafka_headers(*encoded(decoded)).traceparent == TRACEPARENT


def test_round_trip_without_subject_or_trace() -> None:
    event = make(subject=None, data={})
    headers, value = encoded(event)
    assert {k for k, _ in headers} == {
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "content-type",
    }
    decoded = from_kafka_headers(headers, value)
    assert decoded == event
    assert decoded.subject is None
    assert decoded.traceparent is None
    assert decoded.tracestate is None


def test_round_trip_keeps_a_non_utc_offset() -> None:
    cet = timezone(timedelta(hours=1))
    event = make(time=datetime(2026, 3, 1, 13, 30, tzinfo=cet))
    headers, value = encoded(event)
    assert ("ce_time", b"2026-03-01T13:30:00+01:00") in headers
    assert from_kafka_headers(headers, value).time.utcoffset() == timedelta(hours=1)


def test_accepts_aiokafka_tuples_and_other_headers() -> None:
    headers, value = encoded(make())
    record_headers = (("outbox_id", b"\xff\xfe"), *[(k.upper(), v) for k, v in headers])
    assert from_kafka_headers(record_headers, value) == make()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T12:30:05Z", datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)),
        ("2026-03-01t12:30:05z", datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)),
        ("2026-03-01T12:30:05.123456789Z", datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)),
        ("2026-03-01T14:30:05+02:00", datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01",
        "2026-03-01T12:30:05",
        "1772368205",
        "2026-03-01 12:30:05Z",
        "2026-13-01T00:00:00Z",
    ],
)
def test_parse_time_rejects_non_rfc3339(text: str) -> None:
    with pytest.raises(ValueError, match=r"RFC 3339|month"):
        parse_time(text)


def test_format_time() -> None:
    assert format_time(datetime(2026, 3, 1, tzinfo=UTC)) == "2026-03-01T00:00:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 3, 1))  # naive on purpose


@pytest.mark.parametrize("name", ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"])
def test_missing_required_header(name: str) -> None:
    headers, value = encoded(make())
    with pytest.raises(InvalidEnvelope, match=name) as info:
        from_kafka_headers(without(headers, name), value)
    assert name in info.value.reason


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("ce_specversion", b"0.3", "ce_specversion"),
        ("ce_id", b"", "empty"),
        ("ce_time", b"yesterday", "RFC 3339"),
        ("ce_time", b"2026-03-01T12:00:00", "RFC 3339"),
        ("ce_source", b"\xff", "UTF-8"),
        ("content-type", b"application/cloudevents+json", "content-type"),
        ("content-type", b"application/avro", "content-type"),
    ],
)
def test_invalid_header(name: str, value: bytes, match: str) -> None:
    headers, body = encoded(make())
    with pytest.raises(InvalidEnvelope, match=match):
        from_kafka_headers(replaced(headers, name, value), body)


def test_conflicting_duplicate_header() -> None:
    headers, value = encoded(make())
    with pytest.raises(InvalidEnvelope, match="conflicting"):
        from_kafka_headers([*headers, ("ce_id", b"evt_2")], value)
    assert from_kafka_headers([*headers, ("ce_id", b"evt_1")], value) == make()


def test_header_without_value() -> None:
    headers, value = encoded(make())
    with pytest.raises(InvalidEnvelope, match="no value"):
        from_kafka_headers([*without(headers, "ce_type"), ("ce_type", None)], value)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (None, "tombstone"),
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"total": NaN}', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"text"', "JSON object"),
    ],
)
def test_invalid_value(value: bytes | None, match: str) -> None:
    headers, _ = encoded(make())
    with pytest.raises(InvalidEnvelope, match=match):
        from_kafka_headers(headers, value)


def test_no_headers_at_all() -> None:
    with pytest.raises(InvalidEnvelope, match="ce_specversion"):
        from_kafka_headers(None, b"{}")


def test_content_type_variants() -> None:
    headers, value = encoded(make())
    assert from_kafka_headers(without(headers, "content-type"), value) == make()
    charset = replaced(headers, "content-type", b"application/json; charset=utf-8")
    assert from_kafka_headers(charset, value) == make()


def test_invalid_traceparent_is_dropped_not_fatal() -> None:
    headers, value = encoded(make(), traceparent="garbage", tracestate="a=1")
    assert not {"traceparent", "tracestate"} & {k for k, _ in headers}
    zero = "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
    decoded = from_kafka_headers([*headers, ("traceparent", zero.encode()), ("tracestate", b"a=1")], value)
    assert decoded.traceparent is None
    assert decoded.tracestate is None


def test_last_valid_traceparent_wins() -> None:
    """The aiokafka instrumentation appends its own traceparent after ours."""
    headers, value = encoded(make(), traceparent=TRACEPARENT)
    decoded = from_kafka_headers([*headers, ("traceparent", OTHER_TRACEPARENT.encode())], value)
    assert decoded.traceparent == OTHER_TRACEPARENT


def test_explicit_trace_context_overrides_the_events() -> None:
    event = make(traceparent=TRACEPARENT)
    headers = to_kafka_headers(event, traceparent=OTHER_TRACEPARENT)
    assert ("traceparent", OTHER_TRACEPARENT.encode()) in headers
    assert ("traceparent", TRACEPARENT.encode()) in to_kafka_headers(event)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", ""),
        ("source", ""),
        ("type", ""),
        ("subject", ""),
        ("time", datetime(2026, 3, 1)),  # naive on purpose
        ("data", [1, 2]),
    ],
)
def test_cloud_event_validates_its_attributes(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        make(**{field: value})


def test_cloud_event_is_frozen() -> None:
    event = make()
    with pytest.raises(AttributeError):
        event.id = "evt_2"  # type: ignore[misc]
