"""Spans as JSON lines in a directory, for local runs without a tracing backend (`INTPLAT_TRACES_DIR`).

Every process writes its own file (`<service>-<pid>.jsonl`), so processes never interleave lines; `read_trace`
gathers one trace from all of them and `render_trace` prints it as a tree. In production, traces go to an OTLP
collector (`OTEL_EXPORTER_OTLP_ENDPOINT`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

TRACES_DIR_VARIABLE = "INTPLAT_TRACES_DIR"


class JsonLinesSpanExporter(SpanExporter):
    def __init__(self, directory: Path, service: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._path = directory / f"{service}-{os.getpid()}.jsonl"
        self._service = service
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(_as_dict(span, self._service), default=str) + "\n" for span in spans]
        with self._lock, self._path.open("a", encoding="utf-8") as file:
            file.writelines(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _as_dict(span: ReadableSpan, service: str) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
        "service": service,
        "name": span.name,
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "links": [
            {"trace_id": format(link.context.trace_id, "032x"), "span_id": format(link.context.span_id, "016x")}
            for link in span.links
        ],
    }


def read_trace(directory: Path, trace_id: str, *, linked: bool = False) -> list[dict[str, Any]]:
    """Every span of `trace_id` in the directory's files, oldest first.

    `linked`: also the traces that link to it (a group commit or a send batch serving several traces is a trace of
    its own that links to each of them), each span marked with `linked_from`.
    """
    # Without links only lines that mention the trace are parsed; with links every line, once.
    spans = _spans(directory, needle="" if linked else trace_id)
    kept = [s for s in spans if s["trace_id"] == trace_id]
    if linked:
        linking = {s["trace_id"] for s in spans if any(link["trace_id"] == trace_id for link in s["links"])}
        kept += [{**s, "linked_from": s["trace_id"]} for s in spans if s["trace_id"] in linking - {trace_id}]
    return sorted(kept, key=lambda s: s["start_ns"] or 0)


def _spans(directory: Path, *, needle: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")):
        with path.open(encoding="utf-8") as file:
            # A line without its newline is still being written by a running service.
            found.extend(json.loads(line) for line in file if needle in line and line.endswith("\n"))
    return found


def render_trace(spans: Iterable[dict[str, Any]]) -> list[str]:
    """One line per span, indented under its parent; a span whose parent is not recorded starts a root."""
    spans = list(spans)
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_id"] if span["parent_id"] in ids else None
        children.setdefault(parent, []).append(span)
    if not spans:
        return []
    origin = min(s["start_ns"] or 0 for s in spans)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            offset_ms = ((span["start_ns"] or origin) - origin) / 1e6
            duration_ms = ((span["end_ns"] or 0) - (span["start_ns"] or 0)) / 1e6
            status = "" if span["status"] != "ERROR" else "  ERROR"
            linked = "(linked) " if "linked_from" in span and span["parent_id"] not in ids else ""
            lines.append(
                f"{offset_ms:9.1f} ms {duration_ms:8.1f} ms  {'  ' * depth}{linked}{span['service']}: {span['name']}"
                f" [{span['kind'].lower()}]{_http_call(span)}{status}"
            )
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return lines


def _http_call(span: dict[str, Any]) -> str:
    """An HTTP client span's path and answer (its name is only the method); the query is left out (e-mails)."""
    attributes = span.get("attributes") or {}
    url = attributes.get("url.full")
    if span["kind"] != "CLIENT" or not isinstance(url, str):
        return ""
    status = attributes.get("http.response.status_code")
    return f" {urlsplit(url).path}" + (f" -> {status}" if status is not None else "")
