"""deploy/compose: the Compose file is valid against the Compose specification's JSON Schema (as compose-go, the
library `docker compose` is built on, ships it), its files exist, its images are pinned, its secrets come from the
git-ignored .env, and it holds what the platform needs (topics, databases, scrape targets, trace pipeline)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from intplat_devstack.cli import service_databases, topic_configs
from intplat_devstack.deploy_tools import ensure_compose_schema

from .conftest import COMPOSE_FILE, DEPLOY, ROOT, is_secret

COMPOSE_DIR = COMPOSE_FILE.parent
REQUIRED = re.compile(r"\$\{(?P<name>[A-Z0-9_]+):\?[^}]*\}")
INTERPOLATED = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<rest>[^}]*)\}")


@pytest.fixture(scope="module")
def validator() -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(json.loads(ensure_compose_schema().read_text()))


def errors(validator: jsonschema_rs.Validator, document: dict[str, Any]) -> list[str]:
    return [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_the_compose_file_follows_the_compose_specification(validator, compose) -> None:
    assert errors(validator, compose) == []


def test_the_schema_refuses_an_unknown_service_key(validator, compose) -> None:
    broken = {**compose, "services": {**compose["services"], "kafka": {**compose["services"]["kafka"], "imgae": "x"}}}
    assert errors(validator, broken)


def test_dependencies_and_mounted_files_exist(compose) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source}"
        build = service.get("build")
        if build:
            assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).is_file(), name


def test_third_party_images_are_pinned(compose) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert re.search(r"\d", tag) and tag != "latest", f"{name}: {image} needs a version tag"


def test_secrets_come_from_the_ignored_env_file(compose, services) -> None:
    example = (COMPOSE_DIR / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, re.MULTILINE))
    for name, container in compose["services"].items():
        service = services.get(name.removesuffix("-relay"))
        for variable, value in (container.get("environment") or {}).items():
            for reference in INTERPOLATED.finditer(str(value)):
                assert reference["name"] in documented, f"{reference['name']} not in .env.example"
            if service is not None and is_secret(service, variable) and not variable.endswith("_DATABASE_URL"):
                assert REQUIRED.fullmatch(str(value)), f"{name}: {variable} must be ${{{variable}:?...}} from .env"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(COMPOSE_DIR / ".env")], cwd=ROOT, check=False).returncode
    assert ignored == 0, "deploy/compose/.env must be git-ignored"


def test_every_service_database_is_created() -> None:
    script = (COMPOSE_DIR / "postgres/init-databases.sql").read_text()
    assert re.findall(r"CREATE DATABASE (\w+);", script) == sorted(service_databases())


def test_the_topic_script_creates_devstacks_topics() -> None:
    script = (DEPLOY / "k8s/base/kafka/create-topics.sh").read_text()
    listed = script.split("<<TOPICS\n")[1].split("TOPICS\n")[0].splitlines()
    assert [tuple(line.split()) for line in listed] == [(t.name, str(t.partitions)) for t in topic_configs()]


def test_prometheus_scrapes_every_http_service_and_worker(compose) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    http = {
        f"{name}:{service['build']['args']['PORT']}"
        for name, service in compose["services"].items()
        if "build" in service and service.get("command") == ["serve"]
    }
    # A worker-only container serves /metrics on its METRICS_PORT.
    workers = {
        name: service for name, service in compose["services"].items() if service.get("command", [""])[0] == "worker"
    }
    assert workers and all("METRICS_PORT" in w["environment"] for w in workers.values())
    scraped_workers = {f"{name}:{w['environment']['METRICS_PORT']}" for name, w in workers.items()}
    assert http and targets == http | scraped_workers


def test_traces_go_through_the_collector_to_jaeger(compose) -> None:
    collector = yaml.safe_load((COMPOSE_DIR / "otel-collector/config.yaml").read_text())
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    assert collector["service"]["pipelines"]["traces"]["exporters"] == ["otlp/jaeger"]
    for name, service in compose["services"].items():
        if "build" in service:
            assert service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", name
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text())
    assert {d["type"]: d["url"] for d in datasources["datasources"]} == {
        "prometheus": "http://prometheus:9090",
        "jaeger": "http://jaeger:16686",
    }


def test_kafka_runs_in_kraft_mode_without_auto_created_topics(compose) -> None:
    kafka = compose["services"]["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_the_example_env_file_is_the_only_env_file_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", str(COMPOSE_DIR)], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    assert not [f for f in tracked if Path(f).name == ".env"]
