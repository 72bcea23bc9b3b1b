"""`POST /webhooks/postmark`: Basic auth, status updates, suppression, duplicates, key casing, bad input."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from intplat_devstack.testing import eventually

from .conftest import WEBHOOK_PASSWORD, WEBHOOK_USER, Platform

pytestmark = pytest.mark.integration


def basic(user: str = WEBHOOK_USER, password: str = WEBHOOK_PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def post(platform: Platform, payload: Any, headers: dict[str, str] | None = None) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await platform.client.post(
        "/webhooks/postmark",
        content=body,
        headers={"Content-Type": "application/json", **basic(), **(headers or {})},
    )


async def sent_mail(platform: Platform, to: str = "ada@example.com") -> Any:
    response = await platform.send_api(to=to)
    assert response.status_code == 202
    row = await platform.settled(response.json()["id"])
    assert row["status"] == "sent"
    return row


async def test_hard_bounce_suppresses_and_the_next_mail_says_why(platform: Platform) -> None:
    row = await sent_mail(platform)
    platform.sandbox.bounce(row["postmark_message_id"], hard=True)  # the sandbox posts Bounce + SubscriptionChange

    async def bounced() -> bool:
        status = await platform.pool.fetchval("SELECT status FROM messages WHERE id = $1", row["id"])
        on_list = await platform.pool.fetchval("SELECT count(*) FROM suppressions WHERE email = 'ada@example.com'")
        return status == "bounced" and on_list == 1

    await eventually(bounced, what="bounce recorded")
    bounced_row = await platform.row(row["id"])
    assert bounced_row["bounced_at"] is not None
    assert "HardBounce" in bounced_row["error"]
    posts_before = len(platform.sandbox.app.requests.records(method="POST", path_prefix="/email"))

    response = await platform.send_api(to="ADA@example.com")
    assert response.status_code == 202
    assert response.json()["status"] == "suppressed"
    assert "suppression list: hard bounce (HardBounce)" in response.json()["status_reason"]
    assert row["postmark_message_id"] in response.json()["status_reason"]
    assert len(platform.sandbox.app.requests.records(method="POST", path_prefix="/email")) == posts_before
    assert len(platform.sandbox.messages) == 1


async def test_spam_complaint_suppresses_delivery_and_opens_update_status(platform: Platform) -> None:
    row = await sent_mail(platform, "carol@example.com")
    postmark_id = row["postmark_message_id"]
    platform.sandbox.deliver(postmark_id)
    await eventually(lambda: _status(platform, row["id"], "delivered"), what="delivered")
    platform.sandbox.open(postmark_id)
    platform.sandbox.click(postmark_id)
    await eventually(lambda: _status(platform, row["id"], "clicked"), what="clicked")
    platform.sandbox.complain(postmark_id)
    await eventually(lambda: _status(platform, row["id"], "complained"), what="complaint")
    final = await platform.row(row["id"])
    assert final["delivered_at"] and final["opened_at"] and final["clicked_at"]
    reason = await platform.pool.fetchval("SELECT reason FROM suppressions WHERE email = 'carol@example.com'")
    assert reason == "spam complaint"


async def _status(platform: Platform, message_id: Any, expected: str) -> bool:
    return bool(await platform.pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id) == expected)


async def test_duplicates_are_harmless_and_status_never_goes_back(platform: Platform) -> None:
    row = await sent_mail(platform)
    bounce = {
        "RecordType": "Bounce",
        "MessageID": row["postmark_message_id"],
        "Type": "HardBounce",
        "TypeCode": 1,
        "Email": "ada@example.com",
        "BouncedAt": "2026-03-01T12:00:05.1234567Z",
        "Description": "mailbox not found",
        "Inactive": True,
    }
    first = await post(platform, bounce, {"X-PM-Webhook-Trace-Id": "trace-1"})
    assert first.json() == {"status": "processed", "record_type": "Bounce"}
    again = await post(platform, bounce, {"X-PM-Webhook-Trace-Id": "trace-1"})
    assert again.json()["status"] == "duplicate"
    # Without a trace id, the message id and record type identify a retry.
    assert (await post(platform, bounce)).json()["status"] == "processed"
    assert (await post(platform, bounce)).json()["status"] == "duplicate"
    late_delivery = {"RecordType": "Delivery", "MessageID": row["postmark_message_id"], "Recipient": "ada@example.com"}
    assert (await post(platform, late_delivery)).json()["status"] == "processed"
    final = await platform.row(row["id"])
    assert final["status"] == "bounced", "a Delivery that arrives after the bounce does not hide it"
    assert await platform.pool.fetchval("SELECT count(*) FROM webhook_receipts") == 3


async def test_keys_are_read_case_insensitively_and_metadata_finds_the_row(platform: Platform) -> None:
    row = await sent_mail(platform)
    delivery = {
        "recordtype": "Delivery",
        "ServerId": 1,
        "MessageId": "not-yet-known-to-us",
        "RECIPIENT": "ada@example.com",
        "DeliveredAt": "2026-03-01T12:00:00Z",
        "metadata": {"dedupe_key": row["metadata_key"]},
    }
    assert (await post(platform, delivery)).json() == {"status": "processed", "record_type": "Delivery"}
    updated = await platform.row(row["id"])
    assert updated["status"] == "delivered"
    assert updated["delivered_at"].isoformat() == "2026-03-01T12:00:00+00:00"
    assert updated["postmark_message_id"] == row["postmark_message_id"], "the first known id is kept"


async def test_subscription_change_reactivates_an_address(platform: Platform) -> None:
    change = {
        "RecordType": "SubscriptionChange",
        "Recipient": "dave@example.com",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "ChangedAt": "2026-03-01T12:00:00Z",
        "MessageID": None,
    }
    assert (await post(platform, change)).json()["status"] == "processed"
    assert (await platform.send_api(to="dave@example.com")).json()["status"] == "suppressed"
    reactivated = {**change, "SuppressSending": False, "ChangedAt": "2026-03-02T12:00:00Z"}
    assert (await post(platform, reactivated)).json()["status"] == "processed"
    response = await platform.send_api(to="dave@example.com")
    assert response.json()["status"] == "queued"
    assert (await platform.settled(response.json()["id"]))["status"] == "sent"


async def test_unknown_records_are_acknowledged(platform: Platform) -> None:
    response = await post(platform, {"RecordType": "Inbound", "MessageID": "x"})
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    unmatched = await post(platform, {"RecordType": "Delivery", "MessageID": "someone-elses", "Recipient": "x@y.zz"})
    assert unmatched.json()["status"] == "processed"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": ""},
        basic(password="wrong"),
        basic(user="admin"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Bearer " + WEBHOOK_PASSWORD},
    ],
    ids=["empty", "wrong-password", "wrong-user", "garbage", "no-colon", "bearer"],
)
async def test_credentials_are_required(platform: Platform, headers: dict[str, str]) -> None:
    response = await platform.client.post(
        "/webhooks/postmark", json={"RecordType": "Delivery", "MessageID": "m"}, headers=headers
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert await platform.pool.fetchval("SELECT count(*) FROM webhook_receipts") == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'"Delivery"', 400),
        (b"\xff\xfe\x00", 400),
        (b'{"RecordType": "Delivery", "MessageID": "a\\u0000b"}', 400),
        (b'{"RecordType": "Delivery", "Recipient": "\\ud800@x.y"}', 400),
        (b'{"RecordType": ["Bounce"], "MessageID": {"x": 1}, "Metadata": "nope"}', 200),
        (b"{" + b'"a":' * 0 + b'"Metadata": {"dedupe_key": 5}}', 200),
    ],
)
async def test_malformed_bodies_are_4xx_never_500(platform: Platform, body: bytes, status: int) -> None:
    response = await post(platform, body)
    assert response.status_code == status, response.text
    assert "error" in response.json() or "status" in response.json()


async def test_oversized_body_is_refused(platform: Platform) -> None:
    response = await post(platform, b'{"RecordType": "Delivery", "Details": "' + b"x" * 1_100_000 + b'"}')
    assert response.status_code == 413
