"""promtool (Prometheus's rule checker and rule unit-test runner), built once into the cache from its Go module.

The Go module's v0.X.Y is Prometheus release 3.X.Y; the first build takes minutes (it compiles Prometheus's service
discovery), later runs use the cached binary.
"""

from __future__ import annotations

from pathlib import Path

from .go import go_install

PROMETHEUS_MODULE_VERSION = "v0.316.0"  # Prometheus 3.16.0


def ensure_promtool() -> Path:
    return go_install("github.com/prometheus/prometheus/cmd/promtool", PROMETHEUS_MODULE_VERSION)
