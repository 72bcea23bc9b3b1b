"""Reading this process's /metrics text as a service would serve it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from intplat_common import setup_telemetry
from intplat_common._telemetry import prometheus_text


def scrape(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric, by their sorted labels (without the exporter's `otel_scope_*` labels)."""
    setup_telemetry("tests")
    body, _ = prometheus_text()
    return {
        tuple(sorted((k, v) for k, v in sample.labels.items() if not k.startswith("otel_scope_"))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == name
    }
