"""POST /webhooks/stripe against the real database and broker."""

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from intplat_devstack.testing import asgi_post

from stripe_gateway.settings import GatewaySettings

from .conftest import OLD_SECRET, SECRET, deliver, make_settings, new_event, signature

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(database: str, kafka, stripe_mock: str, topics: None) -> GatewaySettings:
    """No relay: it would publish, and so delete, the outbox rows these tests count."""
    return make_settings(database, kafka.bootstrap_servers, stripe_mock, STRIPE_GATEWAY_EMBEDDED_RELAY="false")


async def rows(app: Any, event_id: str | None = None) -> int:
    if event_id is None:
        return int(await app.state.pool.fetchval("SELECT count(*) FROM webhook_events"))
    return int(await app.state.pool.fetchval("SELECT count(*) FROM webhook_events WHERE id = $1", event_id))


async def outbox_rows(app: Any) -> int:
    return int(await app.state.pool.fetchval("SELECT count(*) FROM outbox"))


def _stale(body: bytes) -> str:
    return signature(body, timestamp=int(time.time()) - 301)


def _future(body: bytes) -> str:
    return signature(body, timestamp=int(time.time()) + 301)


SIGNATURE_CASES = {
    "missing header": (lambda _body: "", "missing Stripe-Signature header"),
    "malformed header": (lambda _body: "garbage", "malformed Stripe-Signature header"),
    "no timestamp": (lambda _body: "v1=abc", "no timestamp"),
    "no v1 signature": (lambda _body: f"t={int(time.time())},v0=abc", "no v1 signature"),
    "wrong secret": (lambda body: signature(body, "whsec_someone_else"), "does not match"),
    "tampered body": (lambda body: signature(body + b" "), "does not match"),
    "stale timestamp": (_stale, "older than the 300 s tolerance"),
    "future timestamp": (_future, "in the future"),
}


@pytest.mark.parametrize("case", list(SIGNATURE_CASES))
async def test_signature_failures_are_400_and_write_nothing(case: str, client: httpx.AsyncClient, app: Any) -> None:
    event = new_event()
    body = json.dumps(event).encode()
    make_header, reason = SIGNATURE_CASES[case]
    response = await client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": make_header(body)})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    assert reason in response.json()["detail"]
    assert await rows(app) == 0
    assert await outbox_rows(app) == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"id": "evt_1", ', "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"id": "evt_1", "object": "event"}).encode(), "not a Stripe event envelope"),
        (json.dumps({"id": "evt_x", "object": "v2.core.event", "type": "v1.invoice.paid"}).encode(), "thin events"),
        (json.dumps({**new_event(), "created": 10**15}).encode(), "created is not a Unix timestamp"),
        (json.dumps({**new_event(), "created": -1}).encode(), "created is not a Unix timestamp"),
    ],
)
async def test_signed_but_unusable_bodies_are_400_and_write_nothing(
    body: bytes, reason: str, client: httpx.AsyncClient, app: Any
) -> None:
    response = await deliver(client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_event"
    assert reason in response.json()["detail"]
    assert await rows(app) == 0
    assert await outbox_rows(app) == 0


async def test_genuine_event_is_recorded_once_and_duplicates_answer_200(client: httpx.AsyncClient, app: Any) -> None:
    event = new_event()
    first = await deliver(client, event)
    assert first.status_code == 200
    assert first.json() == {"id": event["id"], "status": "recorded"}
    again = await deliver(client, event, secret=OLD_SECRET)  # the previous secret still verifies while rolling
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert await rows(app, event["id"]) == 1
    stored = await app.state.pool.fetchrow("SELECT * FROM webhook_events WHERE id = $1", event["id"])
    assert stored["type"] == "customer.created"
    assert stored["api_version"] == "2025-03-31.basil"
    assert stored["status"] == "accepted"
    assert json.loads(stored["raw_payload"]) == event
    assert str(stored["source_ip"]) == "3.18.12.63"
    assert await outbox_rows(app) == 1, "an unmapped type goes to stripe.events.v1 only"


async def test_the_webhook_skips_the_middleware_yet_answers_like_the_other_routes(
    client: httpx.AsyncClient, app: Any
) -> None:
    """It is dispatched ahead of the middleware stack: correlation ids and the 405 must still hold."""
    body = json.dumps(new_event()).encode()
    given = await client.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": signature(body), "X-Correlation-Id": "corr-7"}
    )
    assert given.status_code == 200
    assert given.headers["X-Correlation-Id"] == "corr-7"
    fresh = await deliver(client, new_event())
    assert len(fresh.headers["X-Correlation-Id"]) == 32, "a new id when the caller sends none"
    wrong_method = await client.get("/webhooks/stripe")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


async def test_several_v1_signatures_any_may_match(client: httpx.AsyncClient, app: Any) -> None:
    event = new_event()
    body = json.dumps(event).encode()
    t = int(time.time())
    old = signature(body, "whsec_retired", t).split(",")[1]
    current = signature(body, SECRET, t).split(",")[1]
    response = await deliver(client, body, header=f"t={t},{old},{current},v0=ignored")
    assert response.status_code == 200


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, app: Any) -> None:
    event = new_event(description="x" * 1_100_000)
    response = await deliver(client, event)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert await rows(app) == 0


async def test_a_trickled_body_is_408_after_the_body_timeout_and_writes_nothing(
    database: str, kafka, stripe_mock: str, topics: None
) -> None:
    from stripe_gateway.app import create_app

    settings = make_settings(database, kafka.bootstrap_servers, stripe_mock, HTTP_BODY_TIMEOUT_SECONDS="0.3")
    application = create_app(settings)
    body = json.dumps(new_event()).encode()
    headers = [(b"content-type", b"application/json"), (b"stripe-signature", signature(body).encode())]
    async with application.router.lifespan_context(application):
        slow = await asgi_post(application, "/webhooks/stripe", [body[:40]], stall=True, headers=headers)
        whole = await asgi_post(application, "/webhooks/stripe", [body[:40], body[40:]], headers=headers)
        assert await rows(application) == 1, "only the timely delivery was recorded"
    assert slow.status == 408
    assert json.loads(slow.body)["error"] == "request_timeout"
    assert slow.seconds < 3
    assert whole.status == 200


async def test_fifty_concurrent_deliveries_of_one_event_record_it_once(client: httpx.AsyncClient, app: Any) -> None:
    event = new_event(type="invoice.finalized")
    responses = await asyncio.gather(*(deliver(client, event) for _ in range(50)))
    assert all(r.status_code == 200 for r in responses)
    assert [r.json()["status"] for r in responses].count("recorded") == 1
    assert await rows(app, event["id"]) == 1
    assert await outbox_rows(app) == 1


async def test_source_ip_allowlist(database, kafka, stripe_mock, topics) -> None:
    from stripe_gateway.app import create_app

    from .conftest import make_settings

    settings = make_settings(
        database,
        kafka.bootstrap_servers,
        stripe_mock,
        STRIPE_WEBHOOK_IP_ALLOWLIST="true",
        TRUSTED_PROXIES="10.0.0.0/8",
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        event = new_event()

        async def from_peer(peer: str, forwarded: str | None = None) -> int:
            transport = httpx.ASGITransport(app=application, client=(peer, 5555))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as c:
                body = json.dumps(event).encode()
                headers = {"Stripe-Signature": signature(body)}
                if forwarded:
                    headers["X-Forwarded-For"] = forwarded
                return (await c.post("/webhooks/stripe", content=body, headers=headers)).status_code

        assert await from_peer("203.0.113.9") == 403
        assert await from_peer("203.0.113.9", forwarded="54.187.174.169") == 403, "XFF from an untrusted peer"
        assert await from_peer("10.1.2.3", forwarded="203.0.113.9") == 403
        assert await from_peer("10.1.2.3", forwarded="54.187.174.169") == 200
        assert await from_peer("54.187.205.235") == 200


async def test_a_connection_closed_since_the_last_batch_is_replaced_without_a_503(
    client: httpx.AsyncClient, app: Any
) -> None:
    assert (await deliver(client, new_event())).status_code == 200
    # What a PostgreSQL restart or an idle-connection reaper does to the writer's kept connection.
    await app.state.pool.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    await asyncio.sleep(0.2)
    event = new_event()
    response = await deliver(client, event)
    assert response.status_code == 200, response.text
    assert await rows(app, event["id"]) == 1
