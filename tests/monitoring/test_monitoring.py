"""Alert rules, their promtool unit tests and the Grafana dashboards: valid, tested, and built only on metrics the
code exports under the names the Prometheus exporter gives them."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from fastapi import FastAPI
from intplat_devstack.promtool import ensure_promtool
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

import intplat_common  # noqa: F401  (on import it opts in to the stable HTTP metric names, as in every service)

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yaml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.test.yaml"))
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
INSTRUMENT_FACTORIES = {
    "create_counter",
    "create_up_down_counter",
    "create_histogram",
    "create_gauge",
    "create_observable_gauge",
    "create_observable_counter",
    "create_observable_up_down_counter",
}


def declared_instruments() -> Iterator[tuple[str, str, str]]:
    """(factory, name, unit) of every instrument the platform's sources create."""
    sources = [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in INSTRUMENT_FACTORIES
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                unit = next((k.value for k in node.keywords if k.arg == "unit"), None)
                unit_text = unit.value if isinstance(unit, ast.Constant) else ""
                yield node.func.attr, str(node.args[0].value), str(unit_text)


@cache
def exported_series() -> frozenset[str]:
    """Every series name /metrics can show: the sources' instruments and the FastAPI instrumentation's, each with
    a value recorded, read back through the same exporter the services use (it renames dots, adds unit suffixes)."""
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    meter = provider.get_meter("inventory")
    for factory, name, unit in declared_instruments():
        if factory.startswith("create_observable_"):
            getattr(meter, factory)(name, callbacks=[lambda _: [Observation(1)]], unit=unit)
        else:
            instrument = getattr(meter, factory)(name, unit=unit)
            getattr(instrument, "record" if hasattr(instrument, "record") else "add")(1)
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {}

    FastAPIInstrumentor.instrument_app(app, meter_provider=provider)
    with TestClient(app) as client:
        client.get("/ping")
    text = generate_latest(registry).decode()
    provider.shutdown()
    return frozenset(s.name for family in text_string_to_metric_families(text) for s in family.samples)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (parsed, not pattern-matched)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"a selector without a metric name in {expr}"
            names.add(node.name)
            return
        for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
            child = getattr(node, attribute, None)
            if child is not None:
                walk(child)
        for child in getattr(node, "args", None) or ():
            walk(child)

    walk(promql_parser.parse(expr))
    return names


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in load_yaml(path)["groups"] for rule in group["rules"]]


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in DASHBOARDS}


def panel_queries() -> Iterator[tuple[str, str, str]]:
    for name, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel["targets"]:
                yield name, panel["title"], target["expr"]


def test_the_inventory_sees_the_exporters_names() -> None:
    series = exported_series()
    # counters keep one _total, seconds histograms get the unit, dots become underscores
    assert {"provider_requests_total", "consumer_lag_records", "outbox_pending"} <= series
    assert "stripe_webhook_duration_seconds_bucket" in series
    assert "provider_request_duration_seconds_count" in series
    assert "http_server_request_duration_seconds_count" in series
    assert "provider_requests_total_total" not in series


def test_rules_pass_promtool_check_and_their_unit_tests() -> None:
    promtool = str(ensure_promtool())
    for command in (
        [promtool, "check", "rules", *map(str, RULE_FILES)],
        [promtool, "test", "rules", *(str(p.relative_to(PROMETHEUS)) for p in RULE_TESTS)],
    ):
        done = subprocess.run(command, cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_rule_file_is_under_test() -> None:
    tested = {PROMETHEUS / "tests" / f for path in RULE_TESTS for f in load_yaml(path)["rule_files"]}
    assert {p.resolve() for p in tested} == {p.resolve() for p in RULE_FILES}


def test_every_alert_has_a_firing_and_a_quiet_test_case() -> None:
    cases: dict[str, set[bool]] = {}
    for path in RULE_TESTS:
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], set()).add(bool(case["exp_alerts"]))
    for rule in alert_rules():
        assert cases.get(rule["alert"]) == {True, False}, f"{rule['alert']}: needs a firing and a quiet test case"


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_summary_description_and_an_existing_runbook_section() -> None:
    for rule in alert_rules():
        annotations = rule["annotations"]
        assert annotations.get("summary") and annotations.get("description"), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path.startswith("docs/runbooks/"), rule["alert"]
        runbook = ROOT / path
        assert runbook.exists(), f"{rule['alert']}: {path} missing"
        assert anchor in _anchors(runbook.read_text()), f"{rule['alert']}: no section #{anchor} in {path}"


def test_rules_and_their_tests_use_only_exported_metrics() -> None:
    exported = exported_series()
    for rule in alert_rules():
        assert metric_names(rule["expr"]) <= exported, rule["alert"]
    for path in RULE_TESTS:
        for test in load_yaml(path)["tests"]:
            for series in test["input_series"]:
                assert metric_names(series["series"]) <= exported, f"{path.name}: {series['series']}"


def test_dashboard_queries_use_only_exported_metrics() -> None:
    exported = exported_series()
    for board, panel, expr in panel_queries():
        unknown = metric_names(expr) - exported
        assert not unknown, f"{board} / {panel}: {sorted(unknown)} are not exported"


def test_dashboards_are_current_and_well_formed() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dashboards.py"), "check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    datasource_uids = {d["uid"] for d in load_yaml(DATASOURCES)["datasources"]}
    boards = dashboards()
    assert set(boards) == {
        "overview.json",
        "stripe-gateway.json",
        "notifier.json",
        "lexoffice-bridge.json",
        "instagram-sync.json",
    }
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    for name, board in boards.items():
        assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36, name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] in datasource_uids, f"{name} / {panel['title']}"
            assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), f"{name} / {panel['title']}"
            assert panel["targets"], f"{name} / {panel['title']}: no query"
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), f"{name} / {panel['title']}"
            assert all(t["datasource"]["uid"] in datasource_uids for t in panel["targets"])


@pytest.mark.parametrize(
    ("board", "pages"),
    [
        ("overview.json", {"https://status.stripe.com", "https://status.postmarkapp.com", "https://status.lexware.de",
                           "https://metastatus.com"}),
        ("stripe-gateway.json", {"https://status.stripe.com"}),
        ("notifier.json", {"https://status.postmarkapp.com", "https://status.stripe.com"}),
        ("lexoffice-bridge.json", {"https://status.lexware.de"}),
        ("instagram-sync.json", {"https://metastatus.com"}),
    ],
)  # fmt: skip
def test_each_dashboard_links_its_providers_status_pages(board: str, pages: set[str]) -> None:
    assert {link["url"] for link in dashboards()[board]["links"]} == pages


@pytest.mark.parametrize(
    ("runbook", "status_page"),
    [
        ("stripe.md", "https://status.stripe.com"),
        ("postmark.md", "https://status.postmarkapp.com"),
        ("lexoffice.md", "https://status.lexware.de"),
        ("instagram.md", "https://metastatus.com"),
        ("kafka.md", None),
        ("postgresql.md", None),
    ],
)
def test_each_runbook_exists_with_its_providers_status_page(runbook: str, status_page: str | None) -> None:
    text = (ROOT / "docs" / "runbooks" / runbook).read_text()
    assert "## Escalation" in text, runbook
    if status_page:
        assert status_page in text, runbook
