"""Span files for local runs: one file per process, one trace read back across files, rendered as a tree."""

from __future__ import annotations

from pathlib import Path

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from intplat_common import read_trace, render_trace
from intplat_common._trace_files import JsonLinesSpanExporter


def provider(directory: Path, service: str) -> TracerProvider:
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": service}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(directory, service)))
    return tracer_provider


def test_a_trace_across_two_services_reads_back_as_one_tree(tmp_path: Path) -> None:
    gateway = provider(tmp_path, "gateway").get_tracer("t")
    notifier = provider(tmp_path, "notifier").get_tracer("t")
    with (
        gateway.start_as_current_span("POST /webhooks/stripe", kind=SpanKind.SERVER) as request,
        gateway.start_as_current_span("webhook_events record"),
    ):
        pass
    with notifier.start_as_current_span("unrelated"):
        pass
    parent_context = request.get_span_context()
    with notifier.start_as_current_span(
        "billing.invoice.paid.v1 process",
        context=trace.set_span_in_context(trace.NonRecordingSpan(parent_context)),
        kind=SpanKind.CONSUMER,
    ):
        pass
    trace_id = format(parent_context.trace_id, "032x")

    spans = read_trace(tmp_path, trace_id)
    assert [s["name"] for s in spans] == [
        "POST /webhooks/stripe",
        "webhook_events record",
        "billing.invoice.paid.v1 process",
    ]
    assert len(list(tmp_path.glob("*.jsonl"))) == 2, "one file per service process"
    lines = render_trace(spans)
    assert "gateway: POST /webhooks/stripe [server]" in lines[0]
    assert "  gateway: webhook_events record [internal]" in lines[1]
    assert "  notifier: billing.invoice.paid.v1 process [consumer]" in lines[2]
    assert not any("unrelated" in line for line in lines)


def test_an_unknown_trace_renders_nothing(tmp_path: Path) -> None:
    assert render_trace(read_trace(tmp_path, "0" * 32)) == []


def test_traces_that_link_to_it_are_shown_when_asked(tmp_path: Path) -> None:
    tracer = provider(tmp_path, "gateway").get_tracer("t")
    with tracer.start_as_current_span("POST /webhooks/stripe", kind=SpanKind.SERVER) as request:
        pass
    request_context = request.get_span_context()
    # A group commit serving this request and others: a trace of its own, linked to each request.
    with (
        tracer.start_as_current_span("webhook_events record", context=Context(), links=[trace.Link(request_context)]),
        tracer.start_as_current_span("WITH", kind=SpanKind.CLIENT),
    ):
        pass
    trace_id = format(request_context.trace_id, "032x")

    assert [s["name"] for s in read_trace(tmp_path, trace_id)] == ["POST /webhooks/stripe"]
    lines = render_trace(read_trace(tmp_path, trace_id, linked=True))
    assert len(lines) == 3
    assert "(linked) gateway: webhook_events record [internal]" in lines[1]
    assert "  gateway: WITH [client]" in lines[2] and "(linked)" not in lines[2]


def test_an_http_call_shows_its_path_and_answer_without_the_query(tmp_path: Path) -> None:
    tracer = provider(tmp_path, "bridge").get_tracer("t")
    with tracer.start_as_current_span("lexoffice-bridge send") as send:
        url = "http://127.0.0.1:8101/v1/contacts?email=ada%40example.com"
        attributes: dict[str, str | int] = {"url.full": url, "http.response.status_code": 200}
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes=attributes):
            pass
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
            pass
    lines = render_trace(read_trace(tmp_path, format(send.get_span_context().trace_id, "032x")))
    assert lines[1].endswith("bridge: GET [client] /v1/contacts -> 200")
    assert lines[2].endswith("bridge: SELECT [client]")
