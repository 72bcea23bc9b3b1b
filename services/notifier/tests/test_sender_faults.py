"""The sender against a misbehaving Postmark: rate limits, 5xx, dropped connections, crashes, inactive recipients.

Whatever happens, each ledger row ends as exactly one accepted message (or a recorded, permanent refusal).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import CommitThenResetFault, ResetFault, StatusFault

from intplat_common import dlq_topic

from .conftest import POSTMARK_TOKEN, SENDER, Platform, Recorder, Topics, dead_letters, publish
from .samples import invoice

pytestmark = pytest.mark.integration

RATE_LIMITED = {"ErrorCode": 429, "Message": "Rate limit exceeded. Slow down."}


@pytest.fixture
def sandbox_webhooks() -> bool:
    return False


def posts(platform: Platform) -> list[Any]:
    return platform.sandbox.app.requests.records(method="POST", path_prefix="/email")


def searches(platform: Platform) -> list[Any]:
    return platform.sandbox.app.requests.records(method="GET", path_prefix="/messages/outbound")


async def all_settled(platform: Platform, ids: list[str], timeout: float = 60) -> list[Any]:
    return [await platform.settled(message_id, timeout=timeout) for message_id in ids]


def assert_one_message_per_row(platform: Platform, rows: list[Any]) -> None:
    accepted = {m.message_id: m for m in platform.sandbox.messages}
    assert len(accepted) == len(rows), f"{len(accepted)} messages at Postmark for {len(rows)} rows"
    for row in rows:
        assert row["status"] == "sent"
        message = accepted[row["postmark_message_id"]]
        assert message.metadata["dedupe_key"] == row["metadata_key"]
    assert len({m.metadata["dedupe_key"] for m in accepted.values()}) == len(rows)


@pytest.mark.parametrize("settings_extra", [{"NOTIFIER_BREAKER_ALERT_AFTER_SECONDS": 0.3}], indirect=True)
async def test_rate_limit_storm_and_5xx_open_the_breaker_and_every_mail_goes_once(
    platform: Platform, chat: Recorder
) -> None:
    faults = platform.sandbox.app.faults
    faults.add(StatusFault(status=429, body=RATE_LIMITED, path_prefix="/email", times=8))
    faults.add(StatusFault(status=500, body={"ErrorCode": 500, "Message": "Internal"}, path_prefix="/email", times=2))
    faults.add(
        StatusFault(status=503, body={"ErrorCode": 100, "Message": "Maintenance"}, path_prefix="/email", times=2)
    )
    transitions: list[tuple[datetime, str]] = []
    platform.app.state.postmark.http.breaker.listeners.append(
        lambda _name, _old, new: transitions.append((datetime.now(UTC), new))
    )

    ids = [(await platform.send_api(to=f"user{i}@example.com")).json()["id"] for i in range(5)]
    rows = await all_settled(platform, ids)

    assert_one_message_per_row(platform, rows)
    assert faults.active() == [], "every scripted failure was hit"
    states = [state for _, state in transitions]
    assert "open" in states and states[-1] == "closed", states
    attempts = posts(platform) + searches(platform)
    for index, (opened_at, state) in enumerate(transitions):
        if state != "open":
            continue
        closed_at = next((t for t, s in transitions[index + 1 :] if s != "open"), datetime.now(UTC))
        during = [r for r in attempts if opened_at < r.at < closed_at]
        assert during == [], f"calls while the breaker was open: {[(r.method, r.path, r.at) for r in during]}"
    breaker_alerts = [c["text"] for c in chat.calls if "circuit breaker open" in c["text"]]
    assert len(breaker_alerts) == 1, chat.calls  # open for more than 0.3 s, possibly several times: one alert
    assert breaker_alerts[0].startswith("[notifier] postmark circuit breaker open for")
    # 500 may have been accepted: those rows were looked up before they were sent again.
    assert len(searches(platform)) >= 1
    assert max(r["attempts"] for r in rows) > 1


async def test_inactive_recipient_is_recorded_not_retried_not_dead_lettered(
    platform: Platform, topics: Topics, kafka: Any
) -> None:
    platform.sandbox.suppress("gone@example.com")  # Postmark knows; the notifier learns it from the 406
    await publish(
        kafka.bootstrap_servers, topics.names["invoice"], invoice(email="gone@example.com"), event_id="evt_inactive"
    )
    row = await eventually(
        lambda: platform.pool.fetchrow("SELECT * FROM messages WHERE status NOT IN ('queued','sending','unknown')"),
        what="the mail settled",
    )
    assert row["status"] == "failed"
    assert row["error_code"] == 406
    assert "inactive" in row["error"]
    assert row["attempts"] == 1
    await asyncio.sleep(1.5)  # several retry periods: nothing more happens
    assert len(posts(platform)) == 1
    assert (await platform.row(row["id"]))["attempts"] == 1
    assert await platform.pool.fetchval("SELECT source FROM suppressions WHERE email = 'gone@example.com'") == (
        "postmark-api"
    )
    assert await platform.pool.fetchval("SELECT outcome FROM inbox WHERE event_id = 'evt_inactive'") == "processed"
    assert await dead_letters(kafka.bootstrap_servers, dlq_topic(topics.group)) == []


async def test_drop_after_accept_is_found_not_sent_twice(platform: Platform) -> None:
    platform.sandbox.app.faults.add(CommitThenResetFault(path_prefix="/email", times=1))
    response = await platform.send_api()
    row = await platform.settled(response.json()["id"])
    assert row["status"] == "sent"
    (message,) = platform.sandbox.messages
    assert row["postmark_message_id"] == message.message_id
    assert len(posts(platform)) == 1, "the dropped call had been accepted: no second POST"
    assert len(searches(platform)) >= 1
    assert row["needs_check"] and row["attempts"] == 2


async def test_drop_before_accept_is_checked_then_sent_once(platform: Platform) -> None:
    platform.sandbox.app.faults.add(ResetFault(path_prefix="/email", times=1))
    response = await platform.send_api()
    row = await platform.settled(response.json()["id"])
    assert_one_message_per_row(platform, [row])
    assert len(posts(platform)) == 2
    assert len(searches(platform)) >= 1


async def test_unknown_outcome_waits_for_the_search_never_resends_blind(platform: Platform) -> None:
    faults = platform.sandbox.app.faults
    faults.add(CommitThenResetFault(path_prefix="/email", times=1))
    faults.add(StatusFault(status=503, path_prefix="/messages/outbound", times=4))
    response = await platform.send_api()
    row = await platform.settled(response.json()["id"])
    assert_one_message_per_row(platform, [row])
    assert len(posts(platform)) == 1
    assert len(searches(platform)) >= 5, "kept asking Postmark until it could answer"


MANUAL_SENDER = pytest.mark.parametrize("settings_extra", [{"NOTIFIER_EMBEDDED_SENDER": False}], indirect=True)


@MANUAL_SENDER
async def test_rows_left_sending_by_a_crash_are_checked_first(platform: Platform) -> None:
    ids = [(await platform.send_api(to=f"crash{i}@example.com")).json()["id"] for i in range(2)]
    rows = [await platform.row(message_id) for message_id in ids]
    # The crashed sender had claimed both; Postmark accepted the first call, the second never left the process.
    await platform.pool.execute(
        "UPDATE messages SET status = 'sending', attempts = 1, lease_until = now() - interval '1 second'"
    )
    async with httpx.AsyncClient(base_url=platform.sandbox_url) as postmark:
        accepted = await postmark.post(
            "/email",
            headers={"X-Postmark-Server-Token": POSTMARK_TOKEN},
            json={
                "From": SENDER,
                "To": rows[0]["recipient"],
                "Subject": "Reset",
                "TextBody": "x",
                "Metadata": {"dedupe_key": rows[0]["metadata_key"]},
            },
        )
    assert accepted.status_code == 200
    posts_before = len(posts(platform))

    assert await platform.app.state.sender.run_once() == 2
    first, second = [await platform.row(message_id) for message_id in ids]
    assert first["status"] == "sent" and first["postmark_message_id"] == accepted.json()["MessageID"]
    assert second["status"] == "sent"
    assert len(posts(platform)) == posts_before + 1, "only the call that never happened is made"
    assert_one_message_per_row(platform, [first, second])


@MANUAL_SENDER
async def test_a_backlog_goes_out_as_one_batch_with_per_item_results(platform: Platform) -> None:
    platform.sandbox.suppress("inactive@example.com")
    ids = [(await platform.send_api(to=to)).json()["id"] for to in
           ("a1@example.com", "inactive@example.com", "a2@example.com", "a3@example.com")]  # fmt: skip
    assert await platform.app.state.sender.run_once() == 4
    (batch,) = posts(platform)
    assert batch.path == "/email/batch"
    rows = {r["recipient"]: r for r in [await platform.row(i) for i in ids]}
    assert rows["inactive@example.com"]["status"] == "failed"
    assert rows["inactive@example.com"]["error_code"] == 406
    sent = [rows[a] for a in ("a1@example.com", "a2@example.com", "a3@example.com")]
    assert_one_message_per_row(platform, sent)
    assert await platform.app.state.sender.run_once() == 0, "nothing left to send or retry"
