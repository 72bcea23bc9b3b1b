"""Jaeger all-in-one (v2: an OpenTelemetry Collector with Jaeger's in-memory storage and UI) for `make run
TRACES=jaeger`, built once into the cache from its Go module (module v1.75.0 is Jaeger 2.12.0).

Its default configuration (spans in memory) listens on loopback: OTLP on 4317 (gRPC) and 4318 (HTTP), the query API
on 16686, and Jaeger's legacy receivers and sampling endpoints (14250, 14268, 5778, 5779, 6831, 6832). A Go build
has no UI assets (they come from an npm build): 16686 serves a placeholder page, the API (`/api/traces`) answers.
"""

from __future__ import annotations

from pathlib import Path

from .go import go_build_tool

JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_MODULE_VERSION = "v1.75.0"  # Jaeger 2.12.0, the version of the Compose file's image
JAEGER_OTLP_TRACES_ENDPOINT = "http://127.0.0.1:4318/v1/traces"
JAEGER_UI = "http://127.0.0.1:16686"


def ensure_jaeger() -> Path:
    return go_build_tool(JAEGER_MODULE, "cmd/jaeger", JAEGER_MODULE_VERSION)


def jaeger_environment() -> dict[str, str]:
    """What every service process needs to send its spans to Jaeger (traces only: Jaeger takes no metrics)."""
    return {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": JAEGER_OTLP_TRACES_ENDPOINT}
