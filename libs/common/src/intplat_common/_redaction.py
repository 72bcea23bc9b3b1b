"""Credentials never reach logs or traces: secret query parameters are masked wherever a URL is recorded.

A key sent where it does not belong (an internal API key as `?api_key=…`, refused with 401) must not be stored in
plain text by the very span that records the refusal. Every span exporter a service installs is wrapped, so the URL
attributes of server and client spans are masked in everything exported (trace files, OTLP, tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

SECRET_QUERY_KEYS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "client_secret",
        "code",
        "fb_exchange_token",
        "input_token",
        "key",
        "password",
        "secret",
        "token",
        "x-internal-api-key",
    }
)
MASK = "***"
# Semantic-convention attributes that carry a URL or its query (stable names and the older ones).
_QUERY_ATTRIBUTES = ("url.query",)
_URL_ATTRIBUTES = ("url.full", "http.url", "http.target")


def redact_query(query: str) -> str:
    """`a=1&api_key=s` -> `a=1&api_key=***`; unchanged when nothing is secret."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
        return query
    return urlencode([(k, MASK if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*")


def redact_url(url: str | httpx.URL) -> str:
    """A full or relative URL with its secret query parameters masked."""
    parts = urlsplit(str(url))
    if not parts.query:
        return str(url)
    return urlunsplit(parts._replace(query=redact_query(parts.query)))


def redact_attributes(span: ReadableSpan) -> ReadableSpan:
    """The span itself when no URL attribute holds a secret; else a copy with those attributes masked."""
    attributes = span.attributes or {}
    masked: dict[str, str] = {}
    for key in (*_QUERY_ATTRIBUTES, *_URL_ATTRIBUTES):
        value = attributes.get(key)
        if isinstance(value, str):
            redacted = redact_query(value) if key in _QUERY_ATTRIBUTES else redact_url(value)
            if redacted != value:
                masked[key] = redacted
    if not masked:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={**attributes, **masked},
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanExporter(SpanExporter):
    """Wraps every exporter a service installs: what it exports has its URL secrets masked. (Instrumentations set
    URL attributes at any time during a span, so the masking happens on the finished span.)"""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([redact_attributes(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
