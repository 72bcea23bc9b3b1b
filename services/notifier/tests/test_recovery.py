"""After a Postmark outage the backlog is due at once when the breaker closes, not at the end of each row's backoff."""

from __future__ import annotations

from typing import Any

import pytest
from intplat_devstack.testing import eventually
from intplat_sandboxes.framework import StatusFault

from .conftest import Platform
from .test_sender_faults import assert_one_message_per_row

pytestmark = pytest.mark.integration

MAINTENANCE = {"ErrorCode": 100, "Message": "Maintenance"}
# Rows back off 15-30 s after their first failure: far longer than the breaker's reset (1 s in the tests).
LONG_BACKOFF = {"NOTIFIER_RETRY_BASE_SECONDS": 30, "NOTIFIER_RETRY_MAX_SECONDS": 120}


@pytest.fixture
def sandbox_webhooks() -> bool:
    return False


@pytest.mark.parametrize("settings_extra", [LONG_BACKOFF], indirect=True)
async def test_rows_backing_off_are_sent_as_soon_as_the_postmark_breaker_closes(platform: Platform) -> None:
    breaker = platform.app.state.postmark.http.breaker
    closed: list[bool] = []
    breaker.listeners.append(lambda _name, _old, new: closed.append(new == "closed"))
    fail_max = platform.settings.postmark_breaker_fail_max
    platform.sandbox.app.faults.add(StatusFault(status=503, body=MAINTENANCE, path_prefix="/email", times=fail_max))
    # The outage: each mail's call fails and the row backs off; the last failure opens the breaker.
    backlog = []
    for i in range(fail_max):
        backlog.append((await platform.send_api(to=f"backlog{i}@example.com")).json()["id"])
        await eventually(lambda: _backing_off(platform, backlog[-1]), what=f"mail {i} backing off")
    assert breaker.state == "open"
    scheduled = {message_id: (await platform.row(message_id))["next_attempt_at"] for message_id in backlog}

    # Postmark is back; live traffic goes on, and its first call after the breaker's reset is the trial.
    live = (await platform.send_api(to="live@example.com")).json()["id"]
    rows = [await platform.settled(message_id) for message_id in [*backlog, live]]

    assert_one_message_per_row(platform, rows)
    assert closed and closed[-1], "the breaker closed"
    for row in rows[:-1]:
        assert row["attempts"] == 2
        assert row["sent_at"] < scheduled[str(row["id"])], "sent when the breaker closed, before its backoff ended"


async def _backing_off(platform: Platform, message_id: str) -> Any:
    row = await platform.row(message_id)
    return row["status"] == "queued" and row["attempts"] == 1
