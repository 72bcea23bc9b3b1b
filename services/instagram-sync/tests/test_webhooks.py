"""Meta's webhook: the hub.challenge handshake, X-Hub-Signature-256 over the raw body, story metrics stored once."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from instagram_sync.app import SERVICE
from intplat_common.service import create_service_app

from .conftest import make_settings

SECRET = "webhook-app-secret"


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "content-type": "application/json"}


def story_delivery(media_id: str, reach: int, time: int = 1_764_590_000) -> bytes:
    change = {"field": "story_insights", "value": {"media_id": media_id, "reach": reach, "replies": 0, "exits": 1}}
    entry = {"id": "17841400000000001", "time": time, "changes": [change]}
    return json.dumps({"object": "instagram", "entry": [entry]}).encode()


@pytest.fixture
async def app(database: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(database, META_APP_SECRET=SECRET, INSTAGRAM_SYNC_WEBHOOK_VERIFY_TOKEN="verify-me")
    app = create_service_app(SERVICE, settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ig.test") as client:
        yield client


async def test_the_subscription_handshake(client: httpx.AsyncClient) -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "verify-me"}
    answer = await client.get("/webhooks/instagram", params=params)
    assert (answer.status_code, answer.text) == (200, "1158201444")
    wrong = await client.get("/webhooks/instagram", params=params | {"hub.verify_token": "guess"})
    assert wrong.status_code == 403
    assert (await client.get("/webhooks/instagram", params=params | {"hub.mode": "unsubscribe"})).status_code == 403


async def test_signed_story_insights_are_stored_once(client: httpx.AsyncClient, app: FastAPI) -> None:
    body = story_delivery("18000000000000001", reach=42)
    first = await client.post("/webhooks/instagram", content=body, headers=signed(body))
    assert first.json() == {"status": "received", "stories": 1}
    again = await client.post("/webhooks/instagram", content=body, headers=signed(body))
    assert again.json() == {"status": "duplicate", "stories": 0}

    # A signature over other bytes (the same JSON re-serialised), another secret, or none: refused, nothing stored.
    other = story_delivery("18000000000000002", reach=7)
    respaced = json.dumps(json.loads(other), indent=1).encode()
    for headers in (signed(respaced), signed(other, "other-secret"), {"content-type": "application/json"}):
        refused = await client.post("/webhooks/instagram", content=other, headers=headers)
        assert refused.status_code == 401
    assert (await client.post("/webhooks/instagram", content=b"[]", headers=signed(b"[]"))).status_code == 400

    rows = await app.state.pool.fetch("SELECT media_id, account_id, metrics FROM instagram_story_insights")
    assert [(r["media_id"], r["account_id"], r["metrics"]) for r in rows] == [
        ("18000000000000001", "17841400000000001", {"reach": 42, "replies": 0, "exits": 1})
    ]
