"""The declaration: registered through its own pyproject, served and migrated by the kit; the connect flow's
state checks (bound to the browser, single-use) and the rotation command."""

from __future__ import annotations

from importlib.metadata import entry_points
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from instagram_sync.app import SERVICE
from instagram_sync.main import run
from intplat_common.credentials import EncryptionKey
from intplat_common.service import create_service_app, registered_services

from .conftest import KEY, connect_path, make_settings


def test_registered_through_its_own_pyproject() -> None:
    assert registered_services()["instagram-sync"] is SERVICE
    (script,) = entry_points(group="console_scripts", name="instagram-sync")
    assert script.value == "instagram_sync.main:run"
    assert SERVICE.database == "instagram_sync"
    assert SERVICE.sandboxes == {"meta-sandbox": ("META_GRAPH_API_BASE", "meta-sandbox")}
    assert make_settings().port == 8004


def test_production_refuses_the_development_secrets() -> None:
    with pytest.raises(ValueError, match="META_APP_SECRET"):
        make_settings(
            INTPLAT_ENVIRONMENT="production", CREDENTIALS_ENCRYPTION_KEYS=EncryptionKey.generate("k1").entry()
        )


def test_tier_plans_from_the_environment() -> None:
    settings = make_settings(INSTAGRAM_SYNC_TIER_PLANS="gold:hourly, silver:daily")
    assert settings.tier_plans == {"gold": "hourly", "silver": "daily"}
    with pytest.raises(ValueError, match="INSTAGRAM_SYNC_TIER_PLANS"):
        make_settings(INSTAGRAM_SYNC_TIER_PLANS="gold:weekly")


async def test_serves_probes_and_connect_binds_state_to_the_browser(database: str) -> None:
    app = create_service_app(SERVICE, make_settings(database))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ig.test") as client:
            assert (await client.get("/healthz")).status_code == 200
            assert "/v1/instagram/callback" in (await client.get("/openapi.json")).json()["paths"]

            started = await client.get(await connect_path(client, "cus_1", "instagram"))
            assert started.status_code == 302
            target = urlsplit(started.headers["location"])
            query = parse_qs(target.query)
            assert target.path == "/oauth/authorize"
            assert query["scope"] == ["instagram_business_basic instagram_business_manage_insights"]
            assert query["redirect_uri"] == ["http://127.0.0.1:8004/v1/instagram/callback"]
            state = query["state"][0]
            cookie = started.cookies["ig_connect"]

            other = (await client.get(await connect_path(client, "cus_2"))).cookies["ig_connect"]

            async def callback(cookie: str | None, **params: str) -> tuple[int, str]:
                client.cookies.clear()
                headers = {"cookie": f"ig_connect={cookie}"} if cookie else {}
                answer = await client.get("/v1/instagram/callback", params=params, headers=headers)
                return answer.status_code, answer.json().get("detail") or answer.json()["error"]

            # Another browser (no cookie, or another flow's cookie), or an altered state: refused.
            assert await callback(None, state=state, code="c") == (
                400,
                "the connect flow was not started in this browser",
            )
            assert await callback(other, state=state, code="c") == (400, "state was issued for another subject")
            assert await callback(cookie, state=state[:-4] + "AAAA", code="c") == (400, "state is invalid or expired")
            # The right browser: the state is used (the user declined here), and it cannot be used again.
            status, detail = await callback(cookie, state=state, error="access_denied")
            assert (status, detail.startswith("the authorization was not granted")) == (400, True)
            assert await callback(cookie, state=state, code="c") == (400, "state was already used")


def test_the_cli_migrates_and_rotates(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INSTAGRAM_SYNC_DATABASE_URL", database)
    monkeypatch.setenv("CREDENTIALS_ENCRYPTION_KEYS", KEY)
    assert run(["migrate"]) == 0
    assert run(["rotate-credentials"]) == 0
    assert '"rotated": 0' in capsys.readouterr().out
