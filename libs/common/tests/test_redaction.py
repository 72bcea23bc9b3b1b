"""Secret query parameters never reach a span: server spans (a key sent as `?api_key=`) and client spans alike."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from intplat_common import ProviderConfig, ResilientClient, instrument_app, redact_url
from intplat_common._redaction import redact_query


def recorded_urls(spans: InMemorySpanExporter) -> list[str]:
    keys = ("url.query", "url.full", "http.url", "http.target")
    return [str(v) for s in spans.get_finished_spans() for k, v in (s.attributes or {}).items() if k in keys]


async def test_a_key_in_the_query_of_a_request_is_masked_in_its_server_span(spans: InMemorySpanExporter) -> None:
    app = FastAPI()

    @app.get("/v1/things")
    async def things() -> dict[str, str]:
        return {"ok": "yes"}

    instrument_app(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc.test") as client:
        response = await client.get("/v1/things", params={"api_key": "internal-secret-1", "page": "2"})
    assert response.status_code == 200
    urls = recorded_urls(spans)
    assert urls, "the server span records its URL"
    assert not [u for u in urls if "internal-secret-1" in u]
    assert any("api_key=***" in u and "page=2" in u for u in urls)


async def test_a_token_in_a_provider_url_is_masked_in_the_client_span(spans: InMemorySpanExporter) -> None:
    config = ProviderConfig(name="graph-test", base_url="http://graph.test", max_attempts=1)
    client = ResilientClient(config, transport=httpx.MockTransport(lambda _: httpx.Response(200, json={})))
    try:
        await client.request("GET", "/me", params={"access_token": "EAAB-secret", "fields": "id"})
    finally:
        await client.aclose()
    urls = recorded_urls(spans)
    assert urls, "the client span records its URL"
    assert not [u for u in urls if "EAAB-secret" in u]


def test_only_secret_parameters_are_masked() -> None:
    assert redact_query("a=1&Token=t&b=") == "a=1&Token=***&b="
    assert redact_query("a=1&b=2") == "a=1&b=2"
    assert redact_url("/v1/x?x-internal-api-key=k") == "/v1/x?x-internal-api-key=***"
    # Graph's debug_token: the token inspected is as secret as the one inspecting it (an app token is the app secret).
    assert redact_query("input_token=app%7Csecret&access_token=app%7Csecret") == "input_token=***&access_token=***"
