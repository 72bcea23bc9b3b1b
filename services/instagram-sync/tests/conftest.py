"""Fixtures for the instagram-sync tests: settings, the service's database migrated on a real PostgreSQL, and the
service served beside the Meta Graph sandbox (on the sandbox's clock), with the browser's side of the connect flow."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from intplat_sandboxes.framework import FrozenClock, serve_in_background
from intplat_sandboxes.meta import MetaSandbox, create_meta_sandbox

from instagram_sync.app import SERVICE, InstagramComponents
from instagram_sync.settings import InstagramSyncSettings
from instagram_sync.storage import MIGRATIONS
from intplat_common import create_pool, migrate
from intplat_common.credentials import EncryptionKey
from intplat_common.service import create_service_app

APP_ID = "meta-test-app"
APP_SECRET = "meta-test-secret"

KEY = EncryptionKey.generate("test1").entry()
API_KEY_HEADERS = {"X-Internal-Api-Key": "test-internal-key"}


async def connect_path(client: httpx.AsyncClient, customer_id: str, login: str = "facebook") -> str:
    """The client portal's part: a connect link for its logged-in client (path and query, for `client`'s base)."""
    answer = await client.post(
        "/v1/instagram/connect-links", json={"customer_id": customer_id, "login": login}, headers=API_KEY_HEADERS
    )
    assert answer.status_code == 201, answer.text
    url = urlsplit(answer.json()["url"])
    return f"{url.path}?{url.query}"


def make_settings(database: str = "postgresql://unused/none", **extra: Any) -> InstagramSyncSettings:
    values: dict[str, Any] = {
        "INSTAGRAM_SYNC_DATABASE_URL": database,
        "INTPLAT_ENVIRONMENT": "test",
        "META_GRAPH_API_BASE": "http://meta.test",
        "CREDENTIALS_ENCRYPTION_KEYS": KEY,
        "INTERNAL_API_KEYS": "test-internal-key",
        "INSTAGRAM_SYNC_EMBEDDED_WORKERS": "none",
    }
    values.update(extra)
    return InstagramSyncSettings(**values)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    """The service's database, migrated."""
    await migrate(database, MIGRATIONS)
    pool = await create_pool(database, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def meta() -> MetaSandbox:
    """On a clock that moves only when told; the service runs on the same clock."""
    return create_meta_sandbox(app_id=APP_ID, app_secret=APP_SECRET, clock=FrozenClock())


@pytest.fixture
def settings_extra(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


@dataclass
class Served:
    """instagram-sync (its workers as the test chose) beside the Meta sandbox; `client` is the browser and the
    dashboards (it keeps cookies)."""

    app: FastAPI
    meta: MetaSandbox
    client: httpx.AsyncClient

    @property
    def components(self) -> InstagramComponents:
        components: InstagramComponents = self.app.state.components
        return components

    @property
    def pool(self) -> asyncpg.Pool:
        return self.components.pool

    async def connect(self, login: str, customer_id: str) -> httpx.Response:
        """The browser's round trip: our connect route, Meta's dialog (as `meta.next_login` scripts it), our
        callback with what Meta appended."""
        started = await self.client.get(await connect_path(self.client, customer_id, login))
        assert started.status_code == 302, started.text
        async with httpx.AsyncClient() as browser:
            dialog = await browser.get(started.headers["location"])
        assert dialog.status_code == 302, dialog.text
        returned = urlsplit(dialog.headers["location"])
        assert returned.path == "/v1/instagram/callback"
        params = {key: values[0] for key, values in parse_qs(returned.query).items()}
        return await self.client.get("/v1/instagram/callback", params=params)

    def graph_requests(self, path_prefix: str = "/") -> list[str]:
        return [r.path for r in self.meta.app.requests.records(path_prefix=path_prefix) if r.path != "/healthz"]


@pytest.fixture
async def served(
    database: str, meta: MetaSandbox, settings_extra: dict[str, Any], request: pytest.FixtureRequest
) -> AsyncIterator[Served]:
    kafka = request.getfixturevalue("kafka").bootstrap_servers if "kafka" in request.fixturenames else "127.0.0.1:1"
    async with serve_in_background(meta.app) as meta_url:
        settings = make_settings(
            database,
            **{
                "META_GRAPH_API_BASE": meta_url,
                "META_APP_ID": APP_ID,
                "META_APP_SECRET": APP_SECRET,
                "META_GRAPH_BACKOFF_BASE_SECONDS": 0.05,
                "KAFKA_BOOTSTRAP_SERVERS": kafka,
                "INSTAGRAM_SYNC_CONSUMER_GROUP": f"instagram-sync-{uuid.uuid4().hex[:8]}",
                **settings_extra,
            },
        )
        declared = dataclasses.replace(SERVICE, build=lambda s, p: InstagramComponents.build(s, p, clock=meta.now))
        app = create_service_app(declared, settings)
        async with serve_in_background(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Served(app, meta, client)
