"""Internal API: `POST /v1/emails` (auth, validation, idempotency) and message lookup for support staff."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from .conftest import API_KEY, Platform

pytestmark = pytest.mark.integration


async def test_a_mail_is_accepted_then_sent_once(platform: Platform) -> None:
    response = await platform.send_api("magic_link", "Ada@Example.com", name="Ada", locale="de-DE",
                                       model={"login_url": "https://app.example.com/login?t=s3cret"})  # fmt: skip
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["message"]["recipient"] == "ada@example.com"
    assert "model" not in body["message"], "sign-in links stay out of API answers"
    row = await platform.settled(body["id"])
    assert row["status"] == "sent"
    (message,) = platform.sandbox.messages
    assert message.message_id == row["postmark_message_id"]
    assert message.to == "ada@example.com"
    assert message.subject == "Ihr Anmeldelink für intplat"
    assert "https://app.example.com/login?t=s3cret" in message.html_body
    assert message.metadata == {"dedupe_key": row["metadata_key"], "notifier_id": body["id"]}
    assert message.tag == "magic_link"
    assert message.message_stream == "outbound"
    shown = await platform.client.get(f"/v1/messages/{body['id']}", headers={"X-Internal-Api-Key": API_KEY})
    assert shown.status_code == 200
    assert shown.json()["status"] == "sent"
    assert shown.json()["postmark_message_id"] == message.message_id


@pytest.mark.parametrize(
    "headers", [{}, {"X-Internal-Api-Key": "wrong"}, {"X-Internal-Api-Key": ""}], ids=["missing", "wrong", "empty"]
)
async def test_api_key_is_required(platform: Platform, headers: dict[str, str]) -> None:
    for method, path in (("POST", "/v1/emails"), ("GET", "/v1/messages"), ("GET", f"/v1/messages/{uuid.uuid4()}")):
        response = await platform.client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"] == "unauthorized"
    assert await platform.rows() == []


async def test_second_key_works_for_rotation(platform: Platform) -> None:
    response = await platform.send_api(headers={"X-Internal-Api-Key": "test-notifier-key-2"})
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"template": "newsletter"}, "template"),
        ({"to": "not-an-address"}, "to"),
        ({"to": "a@example.com, b@example.com"}, "to"),
        ({"model": {}}, "reset_url"),
        ({"model": {"reset_url": "javascript:alert(1)"}}, "reset_url"),
        ({"model": {"reset_url": "https://a.test/r", "expires_in_minutes": 0}}, "expires_in_minutes"),
        ({"model": {"reset_url": "https://a.test/r", "surprise": 1}}, "surprise"),
        ({"locale": "deutsch"}, "locale"),
        ({"name": "Ada\r\nBcc: x@example.com"}, "name"),
        ({"cc": "x@example.com"}, "cc"),
    ],
)
async def test_validation_errors_name_the_field(platform: Platform, change: dict[str, Any], where: str) -> None:
    body = {"template": "password_reset", "to": "ada@example.com", "model": {"reset_url": "https://a.test/r"}, **change}
    response = await platform.client.post("/v1/emails", json=body, headers={"X-Internal-Api-Key": API_KEY})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_failed"
    assert where in json.dumps(response.json()["detail"])
    assert await platform.rows() == []


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"template": 1}', b"\xff\xfe", b'{"to": "\\u0000"}'], ids=repr
)
async def test_malformed_bodies_are_422_not_500(platform: Platform, body: bytes) -> None:
    response = await platform.client.post(
        "/v1/emails", content=body, headers={"X-Internal-Api-Key": API_KEY, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text


async def test_idempotency_key_sends_once_and_returns_the_same_message(platform: Platform) -> None:
    headers = {"Idempotency-Key": "signup-7f3a"}
    first = await platform.send_api(headers=headers)
    assert first.status_code == 202
    await platform.settled(first.json()["id"])
    again = [await platform.send_api(headers=headers) for _ in range(3)]
    assert {r.status_code for r in again} == {200}
    assert {r.json()["id"] for r in again} == {first.json()["id"]}
    assert {r.json()["status"] for r in again} == {"sent"}
    assert again[0].headers["Idempotent-Replayed"] == "true"
    assert len(platform.sandbox.messages) == 1
    assert len(await platform.rows()) == 1


async def test_same_key_for_another_request_is_a_conflict(platform: Platform) -> None:
    headers = {"Idempotency-Key": "k-1"}
    assert (await platform.send_api(headers=headers)).status_code == 202
    conflict = await platform.send_api(to="someone.else@example.com", headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "conflict"
    bad_key = await platform.send_api(headers={"Idempotency-Key": "with space"})
    assert bad_key.status_code == 422


async def test_without_a_key_every_call_is_a_new_mail(platform: Platform) -> None:
    ids = {(await platform.send_api()).json()["id"] for _ in range(2)}
    assert len(ids) == 2
    for message_id in ids:
        assert (await platform.settled(message_id))["status"] == "sent"
    assert len(platform.sandbox.messages) == 2


async def test_message_list_filters(platform: Platform) -> None:
    await platform.send_api("password_reset", "ada@example.com")
    await platform.send_api("magic_link", "bob@example.com", model={"login_url": "https://a.test/l"})
    await platform.send_api("magic_link", "ada@example.com", model={"login_url": "https://a.test/l"})
    headers = {"X-Internal-Api-Key": API_KEY}

    async def listed(**params: Any) -> list[dict[str, Any]]:
        response = await platform.client.get("/v1/messages", params=params, headers=headers)
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    assert len(await listed()) == 3
    assert {m["template"] for m in await listed(recipient="ADA@example.com")} == {"password_reset", "magic_link"}
    assert [m["recipient"] for m in await listed(template="magic_link", recipient="bob@example.com")] == [
        "bob@example.com"
    ]
    assert len(await listed(limit=1)) == 1
    for bad in ({"status": "lost"}, {"limit": 0}, {"limit": 201}, {"template": "x"}, {"recipient": "a\x00b"}):
        response = await platform.client.get("/v1/messages", params=bad, headers=headers)
        assert response.status_code == 422, bad
    missing = await platform.client.get(f"/v1/messages/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404
    assert (await platform.client.get("/v1/messages/not-a-uuid", headers=headers)).status_code == 422


async def test_health_and_readiness(platform: Platform) -> None:
    assert (await platform.client.get("/healthz")).json() == {"status": "ok"}
    ready = await platform.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"postgres": "ok", "kafka": "ok"}
    metrics = await platform.client.get("/metrics")
    assert metrics.status_code == 200
