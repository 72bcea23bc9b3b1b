"""CloudEvents 1.0, Kafka protocol binding, binary content mode.

The record value is the event data as JSON bytes; every context attribute travels as a `ce_<name>`
header, the data content type as `content-type`. The W3C trace context (`traceparent`, `tracestate`)
travels in its own headers, as the OpenTelemetry propagators and the aiokafka instrumentation read
and write them.

Spec: https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

_H_SPECVERSION = "ce_specversion"
_H_ID = "ce_id"
_H_SOURCE = "ce_source"
_H_TYPE = "ce_type"
_H_TIME = "ce_time"
_H_SUBJECT = "ce_subject"
_H_CONTENT_TYPE = "content-type"
_H_TRACEPARENT = "traceparent"
_H_TRACESTATE = "tracestate"

# RFC 3339 section 5.6 `date-time` (upper or lower case T/Z, any number of fraction digits).
_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})$"
)
# W3C Trace Context level 1, version 00 (future versions may append fields after a dash).
_TRACEPARENT = re.compile(r"^(?P<v>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-[0-9a-f]{2}(-.*)?$")


class InvalidEnvelope(ValueError):
    """A Kafka record is not a valid CloudEvents binary-mode JSON event. `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """A CloudEvents 1.0 event whose data is a JSON object.

    `time` must be timezone-aware. `traceparent`/`tracestate` are the W3C trace context that came
    with the record (CloudEvents' distributed-tracing extension); they are carried, not part of the
    event's identity.
    """

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    traceparent: str | None = field(default=None, compare=False)
    tracestate: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("id", "source", "type"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"CloudEvent.{name} must be a non-empty string")
        if self.subject is not None and (not isinstance(self.subject, str) or not self.subject):
            raise ValueError("CloudEvent.subject must be a non-empty string or None")
        if not isinstance(self.time, datetime) or self.time.utcoffset() is None:
            raise ValueError("CloudEvent.time must be a timezone-aware datetime")
        if not isinstance(self.data, dict):
            raise ValueError("CloudEvent.data must be a JSON object (a dict)")


def format_time(value: datetime) -> str:
    """RFC 3339 text of an aware datetime: `Z` for UTC, microseconds only when non-zero."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("time must be timezone-aware")
    text = value.isoformat()
    if offset == timedelta(0):
        text = text.removesuffix("+00:00") + "Z"
    return text


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 `date-time`; raises ValueError for anything else (dates, naive times, epoch
    numbers)."""
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    frac = (match["frac"] or "")[:6]  # datetime resolution is microseconds
    offset = match["offset"].upper()
    fraction = f".{frac}" if frac else ""
    zone = "+00:00" if offset == "Z" else offset
    iso = f"{match['date']}T{match['time']}{fraction}{zone}"
    return datetime.fromisoformat(iso)


def valid_traceparent(value: str | None) -> bool:
    """True for a W3C `traceparent` we may propagate (version ff and all-zero ids are invalid)."""
    if not value:
        return False
    match = _TRACEPARENT.match(value)
    if match is None or match["v"] == "ff":
        return False
    if match["v"] == "00" and len(value) != 55:
        return False
    return match["trace"] != "0" * 32 and match["span"] != "0" * 16


def to_kafka_headers(
    event: CloudEvent, *, traceparent: str | None = None, tracestate: str | None = None
) -> list[tuple[str, bytes]]:
    """Kafka headers for `event` in binary content mode.

    `traceparent`/`tracestate` override the ones carried on the event. An invalid `traceparent` is
    dropped, with its `tracestate`, as W3C Trace Context requires, rather than failing the publish.
    Do not pass a traceparent when the aiokafka OpenTelemetry instrumentation injects one on send:
    its setter appends, giving two headers.
    """
    headers: list[tuple[str, bytes]] = [
        (_H_SPECVERSION, SPEC_VERSION.encode()),
        (_H_ID, event.id.encode()),
        (_H_SOURCE, event.source.encode()),
        (_H_TYPE, event.type.encode()),
        (_H_TIME, format_time(event.time).encode()),
    ]
    if event.subject is not None:
        headers.append((_H_SUBJECT, event.subject.encode()))
    headers.append((_H_CONTENT_TYPE, CONTENT_TYPE.encode()))
    parent = traceparent if traceparent is not None else event.traceparent
    state = tracestate if tracestate is not None else event.tracestate
    if parent is not None and valid_traceparent(parent):
        headers.append((_H_TRACEPARENT, parent.encode()))
        if state:
            headers.append((_H_TRACESTATE, state.encode()))
    return headers


def to_kafka_value(event: CloudEvent) -> bytes:
    """The record value: the event data as compact UTF-8 JSON."""
    return json.dumps(event.data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _collect(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        if not (name.startswith("ce_") or name in (_H_CONTENT_TYPE, _H_TRACEPARENT, _H_TRACESTATE)):
            continue  # other headers (outbox_id, dlq_*, ...) are not ours to judge
        if raw_value is None:
            raise InvalidEnvelope(f"header {raw_name!r} has no value")
        try:
            value = raw_value.decode("utf-8")
        except (UnicodeDecodeError, AttributeError) as exc:
            raise InvalidEnvelope(f"header {raw_name!r} is not UTF-8 text") from exc
        found.setdefault(name, []).append(value)
    return found


def _optional(found: Mapping[str, list[str]], name: str) -> str | None:
    values = found.get(name)
    if not values:
        return None
    if len(set(values)) > 1:
        raise InvalidEnvelope(f"header {name!r} appears with conflicting values")
    if not values[0]:
        raise InvalidEnvelope(f"header {name!r} is empty")
    return values[0]


def _required(found: Mapping[str, list[str]], name: str) -> str:
    value = _optional(found, name)
    if value is None:
        raise InvalidEnvelope(f"missing required header {name!r}")
    return value


def _is_json_media_type(value: str) -> bool:
    media_type = value.split(";", 1)[0].strip().lower()
    if media_type == "application/cloudevents+json":
        # structured content mode (the whole event in the value), which we do not produce
        return False
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def from_kafka_headers(headers: Iterable[tuple[str, bytes | None]] | None, value: bytes | None) -> CloudEvent:
    """Decode a binary-mode record.

    Raises `InvalidEnvelope` when a required attribute (`ce_specversion` 1.0, `ce_id`, `ce_source`,
    `ce_type`, `ce_time`) is missing or invalid, or the value is not a JSON object.

    Header names match case-insensitively. A missing `content-type` means JSON. An invalid
    `traceparent` is ignored (the event is still fine); when there are several, the last valid one
    wins, since the aiokafka instrumentation appends its own after ours.
    """
    found = _collect(headers or ())
    specversion = _required(found, _H_SPECVERSION)
    if specversion != SPEC_VERSION:
        raise InvalidEnvelope(f"unsupported ce_specversion {specversion!r}, expected {SPEC_VERSION!r}")
    event_id = _required(found, _H_ID)
    source = _required(found, _H_SOURCE)
    event_type = _required(found, _H_TYPE)
    time_text = _required(found, _H_TIME)
    subject = _optional(found, _H_SUBJECT)
    content_type = _optional(found, _H_CONTENT_TYPE)
    try:
        time = parse_time(time_text)
    except ValueError as exc:
        raise InvalidEnvelope(f"ce_time is not an RFC 3339 timestamp: {time_text!r}") from exc
    if content_type is not None and not _is_json_media_type(content_type):
        raise InvalidEnvelope(f"unsupported content-type {content_type!r}, expected {CONTENT_TYPE!r}")

    if value is None:
        raise InvalidEnvelope("record has no value (tombstone)")
    try:
        data = json.loads(value, parse_constant=_reject_constant)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidEnvelope(f"value is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidEnvelope(f"value must be a JSON object, got {type(data).__name__}")

    parents = [p for p in found.get(_H_TRACEPARENT, []) if valid_traceparent(p)]
    traceparent = parents[-1] if parents else None
    states = found.get(_H_TRACESTATE, [])
    tracestate = states[-1] if traceparent is not None and states and states[-1] else None
    return CloudEvent(
        id=event_id,
        source=source,
        type=event_type,
        time=time,
        subject=subject,
        data=data,
        traceparent=traceparent,
        tracestate=tracestate,
    )
