"""Internal Checkout / Billing Portal proxies against stripe-mock."""

from typing import Any

import httpx
import pytest

from .conftest import API_KEY

pytestmark = pytest.mark.integration

CHECKOUT = {
    "mode": "subscription",
    "line_items": [{"price": "price_1Pro", "quantity": 1}],
    "success_url": "https://app.example.com/thanks",
    "cancel_url": "https://app.example.com/pricing",
    "customer": "cus_abc123",
    "client_reference_id": "order-42",
    "metadata": {"order_id": "42"},
}


def recorded_stripe_calls(app: Any) -> list[httpx.Request]:
    calls: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        calls.append(request)

    app.state.stripe.http._client.event_hooks["request"].append(record)
    return calls


@pytest.mark.parametrize("path", ["/v1/checkout/sessions", "/v1/billing-portal/sessions"])
@pytest.mark.parametrize("key", [None, "wrong-key", ""])
async def test_missing_or_wrong_key_is_401(path: str, key: str | None, client: httpx.AsyncClient, app: Any) -> None:
    calls = recorded_stripe_calls(app)
    headers = {"Idempotency-Key": "k1"}
    if key is not None:
        headers["X-Internal-Api-Key"] = key
    response = await client.post(path, json=CHECKOUT, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert calls == [], "nothing reaches Stripe without a valid key"


async def test_checkout_session_created_with_the_callers_idempotency_key(client: httpx.AsyncClient, app: Any) -> None:
    calls = recorded_stripe_calls(app)
    response = await client.post(
        "/v1/checkout/sessions",
        json=CHECKOUT,
        headers={"X-Internal-Api-Key": "test-internal-key-2", "Idempotency-Key": "order-42-attempt-1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("cs_")
    assert body["url"]
    assert len(calls) == 1
    sent = calls[0]
    assert sent.url.path == "/v1/checkout/sessions"
    assert sent.headers["Idempotency-Key"] == "order-42-attempt-1"
    form = sent.content.decode()
    assert "client_reference_id=order-42" in form
    assert "automatic_tax" not in form


async def test_stripe_tax_is_enabled_when_configured(database, kafka, stripe_mock, topics) -> None:
    from stripe_gateway.app import create_app

    from .conftest import make_settings

    app = create_app(make_settings(database, kafka.bootstrap_servers, stripe_mock, STRIPE_TAX_ENABLED="true"))
    async with app.router.lifespan_context(app):
        calls = recorded_stripe_calls(app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as c:
            response = await c.post(
                "/v1/checkout/sessions", json=CHECKOUT, headers={"X-Internal-Api-Key": API_KEY, "Idempotency-Key": "t"}
            )
    assert response.status_code == 200, response.text
    assert "automatic_tax[enabled]=true" in calls[0].content.decode()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"mode": "rental"}, "mode"),
        ({"line_items": []}, "line_items are required"),
        ({"line_items": [{"price": "not-a-price", "quantity": 1}]}, "price"),
        ({"line_items": [{"price": "price_1", "quantity": 0}]}, "quantity"),
        ({"success_url": "javascript:alert(1)"}, "success_url"),
        ({"customer_email": "jane@example.com"}, "either customer or customer_email"),
        ({"unexpected": True}, "unexpected"),
    ],
)
async def test_checkout_validation_is_422_with_reasons(
    change: dict[str, Any], where: str, client: httpx.AsyncClient, app: Any
) -> None:
    calls = recorded_stripe_calls(app)
    response = await client.post(
        "/v1/checkout/sessions",
        json={**CHECKOUT, **change},
        headers={"X-Internal-Api-Key": API_KEY, "Idempotency-Key": "k"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_failed"
    assert where in str(response.json()["detail"])
    assert calls == []


async def test_idempotency_key_is_required(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/checkout/sessions", json=CHECKOUT, headers={"X-Internal-Api-Key": API_KEY})
    assert response.status_code == 422
    assert "Idempotency-Key" in str(response.json()["detail"])


async def test_portal_session(client: httpx.AsyncClient, app: Any) -> None:
    calls = recorded_stripe_calls(app)
    response = await client.post(
        "/v1/billing-portal/sessions",
        json={"customer": "cus_abc123", "return_url": "https://app.example.com/account"},
        headers={"X-Internal-Api-Key": API_KEY, "Idempotency-Key": "portal-1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["url"]
    assert calls[0].url.path == "/v1/billing_portal/sessions"
    assert calls[0].headers["Idempotency-Key"] == "portal-1"


async def test_stripe_errors_are_mapped(database, kafka, topics) -> None:
    """A Stripe stand-in answering with Stripe's error shapes (stripe-mock cannot produce them)."""
    from intplat_sandboxes.framework import StatusFault, create_sandbox_app, serve_in_background

    from stripe_gateway.app import create_app

    from .conftest import make_settings

    fake = create_sandbox_app("stripe")
    async with serve_in_background(fake) as base:
        app = create_app(make_settings(database, kafka.bootstrap_servers, base))
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:

            async def attempt() -> httpx.Response:
                return await c.post(
                    "/v1/checkout/sessions",
                    json=CHECKOUT,
                    headers={"X-Internal-Api-Key": API_KEY, "Idempotency-Key": "e"},
                )

            invalid = {"error": {"type": "invalid_request_error", "message": "No such price", "param": "line_items"}}
            fake.faults.add(StatusFault(status=400, body=invalid, times=1))
            response = await attempt()
            assert response.status_code == 422
            assert response.json()["detail"]["param"] == "line_items"

            idem = {"error": {"type": "idempotency_error", "message": "Keys for idempotent requests..."}}
            fake.faults.add(StatusFault(status=400, body=idem, times=1))
            assert (await attempt()).status_code == 409

            auth = {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
            fake.faults.add(StatusFault(status=401, body=auth, times=1))
            assert (await attempt()).status_code == 502

            fake.faults.add(StatusFault(status=503, body={"error": {"type": "api_error", "message": "x"}}))
            for _ in range(5):  # the breaker opens after 5 failed logical calls
                assert (await attempt()).status_code == 503
            before = len(fake.requests.records(path_prefix="/v1/checkout"))
            response = await attempt()
            assert response.status_code == 503
            assert "circuit open" in response.json()["detail"]
            assert len(fake.requests.records(path_prefix="/v1/checkout")) == before, "no call while open"
