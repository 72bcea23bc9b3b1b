"""Internal Checkout / Billing Portal proxies against stripe-mock."""

from typing import Any
from urllib.parse import parse_qs

import httpx
import jsonschema_rs
import pytest

from stripe_gateway.adapters.stripe_api import StripeApi

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
        ({"line_items": [{"price": "price_1", "lookup_key": "pro_monthly", "quantity": 1}]}, "exactly one of price"),
        ({"line_items": [{"quantity": 1}]}, "exactly one of price or lookup_key"),
        ({"line_items": [{"lookup_key": "", "quantity": 1}]}, "lookup_key"),
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


async def test_unknown_lookup_key_is_422_and_nothing_is_created(client: httpx.AsyncClient, app: Any) -> None:
    """stripe-mock checks the price list request against Stripe's API description; its fixture price holds no lookup
    key, so the key is unknown."""
    calls = recorded_stripe_calls(app)
    response = await client.post(
        "/v1/checkout/sessions",
        json={**CHECKOUT, "line_items": [{"lookup_key": "no_such_plan_monthly", "quantity": 1}]},
        headers={"X-Internal-Api-Key": API_KEY, "Idempotency-Key": "k-unknown"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["unknown"] == ["no_such_plan_monthly"]
    assert [(call.method, call.url.path) for call in calls] == [("GET", "/v1/prices")]
    assert dict(calls[0].url.params) == {"active": "true", "lookup_keys[0]": "no_such_plan_monthly", "limit": "10"}


async def test_checkout_by_lookup_key_uses_the_listed_price_until_stripe_refuses_it(
    client: httpx.AsyncClient, app: Any, stripe_mock: str
) -> None:
    """Prices are listed by a stand-in (stripe-mock's fixture price has no lookup key); sessions go to stripe-mock."""
    listed: list[httpx.Request] = []
    refuse_next_session: list[bool] = []
    pro = {"id": "price_1ProMonthly", "object": "price", "active": True, "lookup_key": "pro_monthly", "currency": "eur"}

    async def stripe(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/prices":
            listed.append(request)
            return httpx.Response(200, json={"object": "list", "url": "/v1/prices", "has_more": False, "data": [pro]})
        if refuse_next_session and refuse_next_session.pop():
            refused = {"type": "invalid_request_error", "message": "The price is inactive", "param": "line_items"}
            return httpx.Response(400, json={"error": refused})
        return await mock.send(request)

    async with httpx.AsyncClient() as mock:
        app.state.stripe = StripeApi(api_key="sk_test_123", api_base=stripe_mock, transport=httpx.MockTransport(stripe))
        calls = recorded_stripe_calls(app)

        async def checkout(key: str) -> httpx.Response:
            items = [{"lookup_key": "pro_monthly", "quantity": 2}, {"price": "price_1Addon", "quantity": 1}]
            return await client.post(
                "/v1/checkout/sessions",
                json={**CHECKOUT, "line_items": items},
                headers={"X-Internal-Api-Key": API_KEY, "Idempotency-Key": key},
            )

        try:
            first, second = await checkout("k1"), await checkout("k2")
            refuse_next_session.append(True)
            refused = await checkout("k3")
            after_refusal = await checkout("k4")
        finally:
            await app.state.stripe.close()

    statuses = [first.status_code, second.status_code, refused.status_code, after_refusal.status_code]
    assert statuses == [200, 200, 422, 200]
    assert [dict(r.url.params)["lookup_keys[0]"] for r in listed] == ["pro_monthly", "pro_monthly"], (
        "listed once, cached for the next session, listed again after Stripe refused the price"
    )
    sessions = [call for call in calls if call.url.path == "/v1/checkout/sessions"]
    assert len(sessions) == 4
    form = parse_qs(sessions[0].content.decode())
    assert form["line_items[0][price]"] == ["price_1ProMonthly"]
    assert form["line_items[0][quantity]"] == ["2"]
    assert form["line_items[1][price]"] == ["price_1Addon"]
    assert "lookup_key" not in sessions[0].content.decode()


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


async def test_what_the_schema_says_about_bodies_is_what_the_server_does(client: httpx.AsyncClient, app: Any) -> None:
    openapi = (await client.get("/openapi.json")).json()
    checkout = openapi["paths"]["/v1/checkout/sessions"]["post"]
    assert "400" in checkout["responses"], "an unreadable body is documented"
    request_schema = jsonschema_rs.validator_for({**openapi, "$ref": "#/components/schemas/CheckoutSessionRequest"})
    both = {**CHECKOUT, "customer": "cus_A1", "customer_email": "ada@example.com"}
    assert not request_schema.is_valid(both), "the schema says: customer or customer_email, not both"
    assert request_schema.is_valid({**CHECKOUT, "customer": "cus_A1"})
    headers = {"X-Internal-Api-Key": API_KEY, "Idempotency-Key": "k", "Content-Type": "application/json"}
    assert (await client.post("/v1/checkout/sessions", json=both, headers=headers)).status_code == 422
    unreadable = await client.post("/v1/checkout/sessions", content=b'{"mode": "\xff"}', headers=headers)
    assert unreadable.status_code == 400
    assert unreadable.json()["error"] == "bad_request"
