"""Grafana dashboards (deploy/grafana/dashboards/*.json): one per service and an overview, written from this file.

    uv run python scripts/dashboards.py generate    # (re)write the JSON files
    uv run python scripts/dashboards.py check       # exit 1 when a file is missing, stale or orphaned

The panels query only metrics the code exports (tests/monitoring checks every name against the inventory taken
from the exporter); the datasource is the one provisioned with uid `prometheus`
(deploy/grafana/provisioning/datasources/datasources.yaml).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = ROOT / "deploy" / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SCHEMA_VERSION = 39

STATUS_PAGES = {
    "Stripe": "https://status.stripe.com",
    "Postmark": "https://status.postmarkapp.com",
    "Lexware": "https://status.lexware.de",
    "Meta": "https://metastatus.com",
}
# Errors the provider made or could not answer (as in deploy/prometheus/rules/providers.yaml), not our 4xx.
SERVER_ERRORS = 'error=~"http_(5..|408|429)|[A-Z].*"'
BREAKER_STATES = [
    {"type": "value", "options": {"0": {"text": "closed", "color": "green"}}},
    {"type": "value", "options": {"1": {"text": "half-open", "color": "orange"}}},
    {"type": "value", "options": {"2": {"text": "open", "color": "red"}}},
]

UPTIME_STATES = [
    {"type": "value", "options": {"0": {"text": "down", "color": "red"}}},
    {"type": "value", "options": {"1": {"text": "up", "color": "green"}}},
]


@dataclass(frozen=True)
class Panel:
    title: str
    queries: list[tuple[str, str]]  # (PromQL, legend)
    unit: str = "short"
    description: str = ""
    mappings: list[dict[str, Any]] = field(default_factory=list)


def provider_panels(selector: str) -> list[Panel]:
    """RED per provider and HTTP method, retries and breaker state for the providers `selector` matches."""
    return [
        Panel(
            "Provider calls (attempts/s)",
            [(f"sum by (provider, method, status_class) (rate(provider_requests_total{{{selector}}}[5m]))",
              "{{provider}} {{method}} {{status_class}}")],
            "reqps",
        ),
        Panel(
            "Provider error ratio (5xx, 408, 429, transport)",
            [(f"sum by (provider, method) (rate(provider_errors_total{{{selector}, {SERVER_ERRORS}}}[5m]))"
              f" / sum by (provider, method) (rate(provider_requests_total{{{selector}}}[5m]))",
              "{{provider}} {{method}}")],
            "percentunit",
        ),
        Panel(
            "Provider errors by kind",
            [(f"sum by (provider, error) (rate(provider_errors_total{{{selector}}}[5m]))", "{{provider}} {{error}}")],
            "reqps",
            "every error, our refused requests (4xx) included",
        ),
        Panel(
            "Provider latency p95 per attempt",
            [(f"histogram_quantile(0.95, sum by (provider, method, le)"
              f" (rate(provider_request_duration_seconds_bucket{{{selector}}}[5m])))", "{{provider}} {{method}}")],
            "s",
        ),
        Panel(
            "Provider retries/s",
            [(f"sum by (provider) (rate(provider_retries_total{{{selector}}}[5m]))", "{{provider}}")],
            "reqps",
        ),
        Panel(
            "Provider up (uptime probe: 1 answered, 0 not)",
            [(f"max by (provider) (provider_up{{{selector}}})", "{{provider}}")],
            description="a cheap authenticated call per provider every minute (docs/runbooks: Provider down); "
            "the provider's status page is linked at the top of this dashboard",
            mappings=UPTIME_STATES,
        ),
        Panel(
            "Uptime probe latency",
            [(f"max by (provider) (provider_probe_duration_seconds{{{selector}}})", "{{provider}}")],
            "s",
        ),
        Panel(
            "Provider TLS certificate: time left",
            [(f"min by (provider) (provider_certificate_expiry_timestamp_seconds{{{selector}}}) - time()",
              "{{provider}}")],
            "s",
            "until the notAfter of the certificate the provider's endpoint presented to the uptime probe (https "
            "only); alert ProviderCertificateExpiringSoon below 14 days",
        ),
        Panel(
            "Breaker state (0 closed, 1 half-open, 2 open)",
            [(f"max by (provider, instance) (provider_breaker_state{{{selector}}})", "{{provider}} {{instance}}")],
            mappings=BREAKER_STATES,
        ),
    ]  # fmt: skip


def consumer_panels(group: str) -> list[Panel]:
    return [
        Panel(
            "Consumer lag (records)",
            [(f"sum by (group, topic) (consumer_lag_records{{group=~\"{group}\"}})", "{{group}} {{topic}}")],
            description="highwater of the last fetch minus the next offset to process, per group and topic",
        ),
        Panel(
            "Consumer records/s by outcome",
            [(f"sum by (group, outcome) (rate(consumer_records_total{{group=~\"{group}\"}}[5m]))",
              "{{group}} {{outcome}}")],
            "reqps",
        ),
        Panel(
            "Consumer handler retries/s",
            [(f"sum by (group, topic) (rate(consumer_retries_total{{group=~\"{group}\"}}[5m]))",
              "{{group}} {{topic}}")],
            "reqps",
        ),
        Panel(
            "Records dead-lettered (DLQ, per 15 min)",
            [(f"sum by (group, topic) (increase(consumer_records_total"
              f"{{group=~\"{group}\", outcome=\"dead_lettered\"}}[15m]))",
              "{{group}}.dlq from {{topic}}")],
            description="records sent to <group>.dlq (docs/runbooks/kafka.md)",
        ),
        Panel(
            "DLQ depth (records waiting for a re-drive)",
            [(f"max by (group) (sum by (group, instance) (consumer_dlq_depth_records{{group=~\"{group}\"}}))",
              "{{group}}.dlq")],
            description="end offsets of <group>.dlq minus the offsets redrive-dlq committed (docs/runbooks/kafka.md)",
        ),
    ]  # fmt: skip


def outbox_panels() -> list[Panel]:
    return [
        Panel("Outbox backlog (rows)", [("max by (job) (outbox_pending)", "{{job}}")],
              description="reported by the leading relay"),
        Panel("Outbox: age of the oldest row", [("max by (job) (outbox_oldest_pending_age_seconds)", "{{job}}")], "s"),
        Panel(
            "Outbox published rows/s and failed rounds/s",
            [("sum by (job) (rate(outbox_published_total[5m]))", "published {{job}}"),
             ("sum by (job) (rate(outbox_publish_failures_total[5m]))", "failed rounds {{job}}")],
            "reqps",
        ),
    ]  # fmt: skip


def effect_panels(ledger: str) -> list[Panel]:
    return [
        Panel("Effects pending", [(f"sum by (ledger) (effect_pending{{ledger=~\"{ledger}\"}})", "{{ledger}}")]),
        Panel(
            "Effects: age of the oldest pending",
            [(f"max by (ledger) (effect_oldest_pending_age_seconds{{ledger=~\"{ledger}\"}})", "{{ledger}}")],
            "s",
        ),
        Panel(
            "Effect outcomes/s",
            [(f"sum by (ledger, outcome) (rate(effect_outcomes_total{{ledger=~\"{ledger}\"}}[5m]))",
              "{{ledger}} {{outcome}}")],
            "reqps",
        ),
        Panel(
            "Effects given up (dead, manual, failed; per hour)",
            [(f"sum by (ledger, outcome) (increase(effect_outcomes_total"
              f"{{ledger=~\"{ledger}\", outcome=~\"dead|manual|failed\"}}[1h]))",
              "{{ledger}} {{outcome}}")],
        ),
        Panel(
            "Effect attempts p95 (attempt number when settled)",
            [(f"histogram_quantile(0.95, sum by (ledger, le)"
              f" (rate(effect_attempts_bucket{{ledger=~\"{ledger}\"}}[15m])))",
              "{{ledger}}")],
        ),
    ]  # fmt: skip


def webhook_panels() -> list[Panel]:
    return [
        Panel(
            "Stripe webhooks/s by status and outcome",
            [("sum by (http_response_status_code, outcome) (rate(stripe_webhook_duration_seconds_count[5m]))",
              "{{http_response_status_code}} {{outcome}}")],
            "reqps",
        ),
        Panel(
            "Stripe webhook latency p99",
            [("histogram_quantile(0.99, sum by (le) (rate(stripe_webhook_duration_seconds_bucket[5m])))", "p99")],
            "s",
        ),
        Panel(
            "Webhook group-commit batch size (mean)",
            [("sum(rate(webhook_write_batch_size_sum[5m])) / sum(rate(webhook_write_batch_size_count[5m]))", "mean")],
        ),
    ]  # fmt: skip


def instagram_panels() -> list[Panel]:
    """Account syncs, gaps, Graph calls, Meta's budget and blocks, the schedule, connections and token expiry."""
    return [
        Panel("Account syncs/s by outcome", [("sum by (outcome) (rate(instagram_syncs_total[5m]))", "{{outcome}}")],
              "reqps"),
        Panel("Insight gaps/s by reason", [("sum by (reason) (rate(instagram_insight_gaps_total[5m]))", "{{reason}}")],
              "reqps", "data Meta did not give (removed metric, empty answer, too few viewers)"),
        Panel(
            "Graph calls per account sync",
            [("sum(rate(instagram_sync_graph_calls_sum[15m])) / sum(rate(instagram_sync_graph_calls_count[15m]))",
              "mean"),
             ("histogram_quantile(0.95, sum by (le) (rate(instagram_sync_graph_calls_bucket[15m])))", "p95")],
        ),
        Panel(
            "Meta usage reported (% of budget)",
            [("histogram_quantile(0.95, sum by (scope, le) (rate(instagram_graph_usage_percent_bucket[15m])))",
              "p95 {{scope}}")],
            "percent", "X-Business-Use-Case-Usage (account) and X-App-Usage (app); pauses at the ceiling (80 %)",
        ),
        Panel(
            "Blocked by Meta's budget",
            [("max by (scope) (instagram_graph_blocked)", "blocked now {{scope}}"),
             ("sum by (scope) (increase(instagram_graph_blocks_total[1h]))", "blocks in 1 h {{scope}}")],
        ),
        Panel(
            "Schedule: accounts by tier, most overdue slot",
            [("max by (tier) (instagram_scheduled_accounts)", "{{tier}}"),
             ("max(instagram_schedule_overdue_seconds)", "overdue seconds")],
        ),
        Panel("Connections by status", [("max by (status) (instagram_connections)", "{{status}}")]),
        Panel("Active tokens expiring", [("max by (within) (instagram_tokens_expiring)", "within {{within}}")],
              description="Facebook Login tokens cannot be refreshed: the client must reconnect"),
    ]  # fmt: skip


def lexoffice_token_panels() -> list[Panel]:
    """Partner mode only (no series with an API key)."""
    return [
        Panel(
            "Partner token: time until the access token expires",
            [("min(lexoffice_oauth_token_expiry_timestamp_seconds) - time()", "access token")],
            "s",
            "refreshed 5 minutes before it expires; negative: expired (bookings wait)",
        ),
        Panel(
            "Partner token: failed refreshes in a row",
            [("max(lexoffice_oauth_refresh_failures)", "failures")],
            description="alert LexofficeTokenRefreshFailing from 2",
        ),
    ]


def api_panels(job: str) -> list[Panel]:
    return [
        Panel(
            "HTTP API requests/s by route and status",
            [(f"sum by (http_route, http_response_status_code)"
              f" (rate(http_server_request_duration_seconds_count{{job=~\"{job}\"}}[5m]))",
              "{{http_route}} {{http_response_status_code}}")],
            "reqps",
        ),
        Panel(
            "HTTP API latency p95 by route",
            [(f"histogram_quantile(0.95, sum by (http_route, le)"
              f" (rate(http_server_request_duration_seconds_bucket{{job=~\"{job}\"}}[5m])))",
              "{{http_route}}")],
            "s",
        ),
    ]  # fmt: skip


def dashboard(uid: str, title: str, description: str, panels: list[Panel], status_pages: list[str]) -> dict[str, Any]:
    links = [
        {"title": f"{name} status", "type": "link", "url": STATUS_PAGES[name], "targetBlank": True, "icon": "info"}
        for name in status_pages
    ]
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["intplat"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "utc",
        "links": links,
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": [_panel(i, p) for i, p in enumerate(panels)],
    }


def _panel(index: int, panel: Panel) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(panel.queries)
        ],
        "fieldConfig": {"defaults": {"unit": panel.unit, "mappings": panel.mappings}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
    }


def dashboards() -> dict[str, dict[str, Any]]:
    """File name → dashboard."""
    return {
        "overview.json": dashboard(
            "intplat-overview",
            "Integrations platform: overview",
            "RED per provider and method, breakers, retries, consumer lag, outbox, effect ledgers, DLQ, webhooks",
            [*provider_panels('provider=~".+"'), *consumer_panels(".+"), *outbox_panels(), *effect_panels(".+"),
             *webhook_panels()],
            list(STATUS_PAGES),
        ),
        "stripe-gateway.json": dashboard(
            "intplat-stripe-gateway",
            "stripe-gateway",
            "Stripe webhooks in, outbox to Kafka, Stripe API calls (proxies, reconcile, catalog)",
            [*webhook_panels(), *outbox_panels(), *provider_panels('provider="stripe"'),
             *api_panels("stripe-gateway")],
            ["Stripe"],
        ),
        "notifier.json": dashboard(
            "intplat-notifier",
            "notifier",
            "Billing events to mails through Postmark: consumer group, send ledger, Postmark and Stripe calls",
            [*consumer_panels("notifier"), *effect_panels("notifier"),
             *provider_panels('provider=~"postmark|stripe-customers|stripe-gateway"'), *api_panels("notifier")],
            ["Postmark", "Stripe"],
        ),
        "lexoffice-bridge.json": dashboard(
            "intplat-lexoffice-bridge",
            "lexoffice-bridge",
            "Bookings in Lexoffice: consumer group, effect ledger, Lexoffice calls at the rate limit",
            [*consumer_panels("lexoffice-bridge"), *effect_panels("lexoffice.*"),
             *provider_panels('provider="lexoffice"'), *lexoffice_token_panels(), *api_panels("lexoffice-bridge")],
            ["Lexware"],
        ),
        "instagram-sync.json": dashboard(
            "intplat-instagram-sync",
            "instagram-sync",
            "Instagram insights on schedule inside Meta's budget: syncs, gaps, Graph calls, budget and blocks, "
            "schedule, connections and token expiry",
            [*instagram_panels(), *consumer_panels("instagram-sync"), *outbox_panels(),
             *provider_panels('provider=~"meta-graph|meta"'), *api_panels("instagram-sync")],
            ["Meta"],
        ),
    }  # fmt: skip


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["generate", "check"])
    args = parser.parse_args(argv)
    wanted = {name: render(board) for name, board in dashboards().items()}
    if args.command == "generate":
        DASHBOARD_DIR.mkdir(parents=True, exist_ok=True)
        for stale in {p.name for p in DASHBOARD_DIR.glob("*.json")} - set(wanted):
            (DASHBOARD_DIR / stale).unlink()
        for name, text in wanted.items():
            (DASHBOARD_DIR / name).write_text(text)
        return 0
    problems = [f"{name}: missing or stale" for name, text in wanted.items()
                if not (DASHBOARD_DIR / name).exists() or (DASHBOARD_DIR / name).read_text() != text]  # fmt: skip
    problems += [f"{p.name}: orphaned" for p in DASHBOARD_DIR.glob("*.json") if p.name not in wanted]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("run: uv run python scripts/dashboards.py generate", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
