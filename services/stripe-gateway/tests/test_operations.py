"""The endpoints every service has: health, readiness against the real database and broker, metrics, OpenAPI."""

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_kafka(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"postgres": "ok", "kafka": "ok"}


async def test_readyz_is_503_when_the_database_is_unreachable(settings, client: httpx.AsyncClient, app) -> None:
    await app.state.pool.close()
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["postgres"].startswith("unavailable")
    assert body["checks"]["kafka"] == "ok"


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in response.text


async def test_openapi_and_correlation_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json", headers={"X-Correlation-Id": "abc-1"})
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "stripe-gateway"
    assert response.headers["X-Correlation-Id"] == "abc-1"


async def test_unknown_route_is_a_clear_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_migrations_ran_on_start_up(app) -> None:
    tables = {r["tablename"] for r in await app.state.pool.fetch("SELECT tablename FROM pg_tables")}
    assert {"outbox", "inbox", "alembic_version"} <= tables
