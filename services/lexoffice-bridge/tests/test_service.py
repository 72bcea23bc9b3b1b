"""The declaration: registered through its own pyproject, the kit serves and migrates it."""

from __future__ import annotations

from importlib.metadata import entry_points

import httpx
import pytest

from intplat_common.service import create_service_app, registered_services
from lexoffice_bridge.app import SERVICE, BridgeComponents
from lexoffice_bridge.main import run

from .conftest import make_settings


def test_registered_through_its_own_pyproject() -> None:
    assert registered_services()["lexoffice-bridge"] is SERVICE
    (script,) = entry_points(group="console_scripts", name="lexoffice-bridge")
    assert script.value == "lexoffice_bridge.main:run"
    assert script.dist is not None
    assert script.dist.name == "lexoffice-bridge"


def test_declaration() -> None:
    assert SERVICE.name == "lexoffice-bridge"
    assert SERVICE.dev_processes == {"lexoffice-bridge": "lexoffice-bridge serve"}
    assert SERVICE.database == "lexoffice_bridge"
    assert list(SERVICE.consumer_groups) == ["lexoffice-bridge"]


async def test_serves_with_the_shared_rate_limit(database: str) -> None:
    settings = make_settings(database, INTERNAL_API_KEYS="k1")
    app = create_service_app(SERVICE, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as client:
            assert (await client.get("/healthz")).status_code == 200
        components: BridgeComponents = app.state.components
        assert components.rate_limit.rate == pytest.approx(settings.lexoffice_pace_per_second)
        assert "test-lexoffice-key" not in components.rate_limit.name, "the bucket is named after a digest"
        assert await components.rate_limit.reserve() == 0


def test_the_cli_migrates(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEXOFFICE_BRIDGE_DATABASE_URL", database)
    assert run(["migrate"]) == 0
    assert run(["migrate"]) == 0, "a second run finds nothing to do"
