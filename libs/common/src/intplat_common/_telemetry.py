"""OpenTelemetry traces and metrics from the standard OTEL_* variables, Prometheus text, JSON logs.

Instrumented: FastAPI (per app, `instrument_app`), httpx (per client, in the HTTP client factory), asyncpg (here).
Kafka spans are made by the outbox relay and the consumer runner themselves: the aiokafka instrumentation appends a
second `traceparent` to records that already carry the original one, and its receive span ends before processing.

Providers are process-global in OpenTelemetry (they can be set once), so `setup_telemetry` is idempotent: the first
call installs them, later calls (several apps in one test process) reuse them and only add span exporters.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, start_http_server

from ._correlation import current_correlation_id
from ._redaction import RedactingSpanExporter
from ._trace_files import TRACES_DIR_VARIABLE, JsonLinesSpanExporter

_lock = threading.Lock()
_installed: Telemetry | None = None

# The stable HTTP and database semantic conventions (http.request.method, url.full, db.system.name, db.query.text,
# ...) instead of the old default sets. Set on
# import: the instrumentations read it once, when the first client or app is instrumented, which can come before
# `setup_telemetry`.
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database")


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    extra_exporters: list[SpanExporter] = field(default_factory=list)

    def add_span_exporter(self, exporter: SpanExporter) -> None:
        """Synchronous export: tests read finished spans right after the operation."""
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(exporter)))
        self.extra_exporters.append(exporter)


def _otlp_enabled(signal: str) -> bool:
    exporter = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp")
    if exporter == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    )


def setup_telemetry(service_name: str, *, version: str = "0.1.0") -> Telemetry:
    """Install tracer and meter providers once per process. OTLP export only when an endpoint is configured; span
    files for local runs when INTPLAT_TRACES_DIR is set."""
    global _installed
    with _lock:
        if _installed is not None:
            return _installed
        resource = Resource.create(
            {
                "service.name": os.environ.get("OTEL_SERVICE_NAME", service_name),
                "service.version": version,
            }
        )
        tracer_provider = TracerProvider(resource=resource)
        traces_dir = os.environ.get(TRACES_DIR_VARIABLE)
        if traces_dir:
            service = str(resource.attributes["service.name"])
            tracer_provider.add_span_processor(
                BatchSpanProcessor(RedactingSpanExporter(JsonLinesSpanExporter(Path(traces_dir), service)))
            )
        if _otlp_enabled("traces"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            tracer_provider.add_span_processor(BatchSpanProcessor(RedactingSpanExporter(OTLPSpanExporter())))
        readers: list[MetricReader] = [PrometheusMetricReader()]
        if _otlp_enabled("metrics"):
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        # Query parameters stay out of spans: payloads carry customers' personal data.
        AsyncPGInstrumentor(capture_parameters=False).instrument(  # type: ignore[no-untyped-call]
            tracer_provider=tracer_provider
        )
        _installed = Telemetry(tracer_provider, meter_provider)
        return _installed


def serve_metrics(port: int, host: str) -> Callable[[], None]:
    """/metrics of a process without an HTTP app (worker-only), from prometheus_client's server in a thread (the
    registry `prometheus_text` reads). Returns the function that stops it."""
    server, thread = start_http_server(port, addr=host)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def prometheus_text() -> tuple[bytes, str]:
    """The body and content type for GET /metrics."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the trace id, span id and correlation id of the current context."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            entry["trace_id"] = format(ctx.trace_id, "032x")
            entry["span_id"] = format(ctx.span_id, "016x")
        correlation_id = current_correlation_id()
        if correlation_id:
            entry["correlation_id"] = correlation_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """JSON lines on stdout (a command whose output is its result logs to stderr instead)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonLogFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every failed reconnect at ERROR while a broker is down; the outbox reports that state itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # One structured line per external call comes from the resilient client; httpx would add a second.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # Authlib's client: a GET token request's URL has secrets
