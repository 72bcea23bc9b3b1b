"""Listing and replaying recorded events; reconciling from Stripe's Events API."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from intplat_devstack.testing import header, header_in, read_records
from intplat_sandboxes.framework import create_sandbox_app, serve_in_background

from stripe_gateway.adapters.stripe_api import StripeApi
from stripe_gateway.reconcile import reconcile, window

from .conftest import API_KEY, deliver, new_event

pytestmark = pytest.mark.integration
AUTH = {"X-Internal-Api-Key": API_KEY}


async def test_list_filters_by_type_and_time(client: httpx.AsyncClient) -> None:
    created = new_event("customer.created")
    updated = new_event("customer.updated")
    for event in (created, updated):
        assert (await deliver(client, event)).status_code == 200
    everything = await client.get("/v1/webhook-events", headers=AUTH)
    assert everything.status_code == 200
    assert {e["id"] for e in everything.json()["data"]} == {created["id"], updated["id"]}
    only = await client.get("/v1/webhook-events", params={"type": "customer.updated"}, headers=AUTH)
    assert [e["id"] for e in only.json()["data"]] == [updated["id"]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = await client.get("/v1/webhook-events", params={"received_after": future}, headers=AUTH)
    assert later.json() == {"data": [], "count": 0}


async def test_list_requires_key_and_valid_filters(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/webhook-events")).status_code == 401
    bad = await client.get("/v1/webhook-events", params={"limit": 0, "status": "weird"}, headers=AUTH)
    assert bad.status_code == 422
    for number in ("0.5", "1700000000"):
        as_seconds = await client.get("/v1/webhook-events", params={"received_before": number}, headers=AUTH)
        assert as_seconds.status_code == 422, f"{number} is not an ISO 8601 date-time"
        assert "ISO 8601" in as_seconds.text
    locs = {tuple(d["loc"]) for d in bad.json()["detail"]}
    assert ("query", "limit") in locs
    assert ("query", "status") in locs


async def test_replay_republishes_through_the_outbox(client: httpx.AsyncClient, app: Any, kafka) -> None:
    event = new_event()
    assert (await deliver(client, event)).status_code == 200
    response = await client.post(f"/v1/webhook-events/{event['id']}/replay", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["republished_to"] == ["stripe.events.v1"]
    records = await read_records(
        kafka.bootstrap_servers, "stripe.events.v1", expect=2, where=header_in("ce_id", {event["id"]})
    )
    assert len(records) == 2, "the original and the replay, same ce_id so consumers skip what they processed"
    assert len({header(r, "outbox_id") for r in records}) == 2
    row = await app.state.pool.fetchrow("SELECT replay_count FROM webhook_events WHERE id = $1", event["id"])
    assert row["replay_count"] == 1
    missing = await client.post("/v1/webhook-events/evt_doesnotexist/replay", headers=AUTH)
    assert missing.status_code == 404
    malformed = await client.post("/v1/webhook-events/not-an-id/replay", headers=AUTH)
    assert malformed.status_code == 422


def events_api(events: list[dict[str, Any]]) -> Any:
    """Stripe's Events API list endpoint over a fixed set of events (pagination with starting_after)."""
    app = create_sandbox_app("stripe-events")
    router = APIRouter()

    @router.get("/v1/events")
    async def list_events(request: Request) -> dict[str, Any]:
        limit = int(request.query_params.get("limit", "10"))
        after = request.query_params.get("starting_after")
        ordered = sorted(events, key=lambda e: e["created"], reverse=True)
        if after:
            ordered = ordered[[e["id"] for e in ordered].index(after) + 1 :]
        return {"object": "list", "data": ordered[:limit], "has_more": len(ordered) > limit, "url": "/v1/events"}

    app.include_router(router)
    return app


async def test_reconcile_ingests_only_unseen_events_through_the_same_path(
    client: httpx.AsyncClient, app: Any, kafka
) -> None:
    seen = new_event()
    assert (await deliver(client, seen)).status_code == 200
    missed = [new_event() for _ in range(150)]
    broken = {"id": "evt_broken", "object": "event", "type": "x"}  # not a valid envelope: reported, not ingested
    listed = [seen, *missed, {**broken, "created": 1}]
    sandbox = events_api(listed)
    async with serve_in_background(sandbox) as base:
        api = StripeApi(api_key="sk_test_123", api_base=base)
        try:
            report = await reconcile(api, app.state.pool, since=datetime.now(UTC) - timedelta(days=1))
        finally:
            await api.close()
    assert report.listed == 152
    assert report.already_recorded == 1
    assert report.ingested == 150
    assert report.rejected == 1
    pages = sandbox.requests.records(path_prefix="/v1/events")
    assert len(pages) == 2, "100 per page, then starting_after"
    ids = {r["id"] for r in await app.state.pool.fetch("SELECT id FROM webhook_events")}
    assert ids == {seen["id"], *(e["id"] for e in missed)}
    published = await read_records(
        kafka.bootstrap_servers, "stripe.events.v1", expect=151, where=header_in("ce_id", ids)
    )
    assert len(published) == 151, "each recorded event published once"
    stored = await app.state.pool.fetchval("SELECT raw_payload FROM webhook_events WHERE id = $1", missed[0]["id"])
    assert json.loads(stored) == missed[0]


def test_reconcile_window_is_at_most_30_days() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="30 days"):
        window(now - timedelta(days=31), now)
    with pytest.raises(ValueError, match="before it ends"):
        window(now, now - timedelta(seconds=1))
    start, end = window(now - timedelta(days=30), now)
    assert end - start == 30 * 86400
