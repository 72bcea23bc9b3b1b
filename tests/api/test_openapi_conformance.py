"""schemathesis against every declared service's own OpenAPI: the real app on a real socket, with its real
PostgreSQL database and Kafka broker, the internal API key and the service's own Basic credentials supplied.
No input may produce a 5xx, and every answer must be as the document says (status code, content type, headers,
body schema). A service that registers itself (`intplat.services`) is covered without a change here."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
from intplat_devstack.fuzz import run_schemathesis
from intplat_devstack.infra import KafkaServer, PostgresServer
from intplat_devstack.postgres import create_database
from intplat_sandboxes.framework import serve_in_background

from intplat_common import TopicConfig, ensure_topics
from intplat_common.credentials import EncryptionKey, hash_password
from intplat_common.events import TOPICS
from intplat_common.service import create_service_app, registered_services

pytestmark = pytest.mark.integration

API_KEY = "fuzz-internal-key"
ADMIN_PASSWORD = "fuzz-admin-password"
WEBHOOK_PASSWORD = "fuzz-webhook-password"

# The one Basic credential a service checks (its admin page, a provider's webhook): supplied, so schemathesis gets
# past authentication and fuzzes what lies behind it. A service not listed gets the internal key only.
BASIC_AUTH = {
    "lexoffice-bridge": ("admin", ADMIN_PASSWORD),
    "notifier": ("postmark", WEBHOOK_PASSWORD),
}
# Proof that fuzzed requests got past a service's authentication: a count that must not stay 0.
PAST_AUTHENTICATION = {
    "notifier": "SELECT count(*) FROM webhook_receipts",
}


def service_environment(database_variable: str, dsn: str, kafka: str, stripe_api_base: str) -> dict[str, str]:
    return {
        database_variable: dsn,
        "INTPLAT_ENVIRONMENT": "test",
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "INTERNAL_API_KEYS": API_KEY,
        "STRIPE_API_BASE": stripe_api_base,
        "CREDENTIALS_ENCRYPTION_KEYS": EncryptionKey.generate("fuzz1").entry(),
        "LEXOFFICE_BRIDGE_ADMIN_USERS": f"admin:{hash_password(ADMIN_PASSWORD)}",
        "POSTMARK_WEBHOOK_USER": "postmark",
        "POSTMARK_WEBHOOK_PASSWORD": WEBHOOK_PASSWORD,
    }


def headers_for(service: str) -> dict[str, str]:
    headers = {"X-Internal-Api-Key": API_KEY}
    if service in BASIC_AUTH:
        user, password = BASIC_AUTH[service]
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return headers


@pytest.fixture(scope="module")
async def topics(kafka: KafkaServer) -> None:
    topics = [TopicConfig(spec.name, spec.partitions) for spec in TOPICS.values()]
    await ensure_topics(kafka.bootstrap_servers, topics, replication_factor=1)


@pytest.mark.timeout(420)
@pytest.mark.parametrize("name", sorted(registered_services()))
async def test_every_answer_is_documented_and_none_is_a_5xx(
    name: str,
    postgres: PostgresServer,
    kafka: KafkaServer,
    stripe_mock: str,
    topics: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    service = registered_services()[name]
    database = f"fuzz_{name.replace('-', '_')}"
    await create_database(postgres.dsn("postgres"), database)
    variable = f"{(service.database or database).upper()}_DATABASE_URL"
    for key, value in service_environment(
        variable, postgres.dsn(database), kafka.bootstrap_servers, stripe_mock
    ).items():
        monkeypatch.setenv(key, value)
    app = create_service_app(service, service.settings())
    async with serve_in_background(app) as base_url:
        operations = await documented_operations(base_url)
        report = await run_schemathesis(base_url, headers_for(name), tmp_path, max_examples=25)
        past_authentication = PAST_AUTHENTICATION.get(name)
        admitted = await app.state.pool.fetchval(past_authentication) if past_authentication else None
    assert report.returncode == 0, report.output[-8000:]
    assert report.generated == report.passed, report.output[-2000:]
    assert operations <= report.tested, f"never reached: {sorted(operations - report.tested)}"
    assert admitted is None or admitted > 0, "fuzzed requests never got past the service's authentication"


async def documented_operations(base_url: str) -> set[str]:
    async with httpx.AsyncClient() as client:
        document: dict[str, Any] = (await client.get(f"{base_url}/openapi.json")).raise_for_status().json()
    methods = {"get", "put", "post", "delete", "patch"}
    return {f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item if m in methods}
