"""Token upkeep on the sandbox clock: Instagram Login tokens refreshed once they are old enough and well before 60
days; Facebook Login tokens give one reconnect reminder per threshold (14/7/1 days), then "needs reconnect" at
expiry; a refused token (190) gives "needs reconnect" and the same event, once."""

from __future__ import annotations

import json
from datetime import timedelta

from intplat_sandboxes.meta import BAKERY_ACCOUNT_ID, CREATOR_ACCOUNT_ID, TINY_ACCOUNT_ID
from intplat_sandboxes.meta._sandbox import NextLogin

from instagram_sync.upkeep import TokenUpkeep, UpkeepReport
from intplat_common.events import InstagramConnectionExpiring

from .conftest import Served

DAY = 86_400


def upkeep(served: Served) -> TokenUpkeep:
    components = served.components
    return TokenUpkeep(
        components.connections,
        components.graph,
        refresh_after=timedelta(days=7),
        reminder_days=[14, 7, 1],
        clock=served.meta.now,
    )


async def expiring_events(served: Served) -> list[InstagramConnectionExpiring]:
    rows = await served.pool.fetch(
        "SELECT payload FROM outbox WHERE topic = $1 ORDER BY seq", InstagramConnectionExpiring.TOPIC
    )
    return [InstagramConnectionExpiring.model_validate(json.loads(row["payload"])) for row in rows]


async def test_instagram_login_tokens_are_refreshed_before_they_age_out(served: Served) -> None:
    served.meta.next_login = NextLogin(instagram_account_id=CREATOR_ACCOUNT_ID)
    await served.connect("instagram", "cus_creator")
    first = await served.components.connections.get(CREATOR_ACCOUNT_ID)
    assert first is not None and first.expires_at is not None
    upkept = upkeep(served)
    served.meta.clock.advance(2 * DAY)
    assert await upkept.round() == UpkeepReport(), "not yet due"
    served.meta.clock.advance(6 * DAY)
    assert await upkept.round() == UpkeepReport(refreshed=1)
    second = await served.components.connections.get(CREATOR_ACCOUNT_ID)
    assert second is not None and second.expires_at is not None and second.token != first.token
    assert second.expires_at - first.expires_at > timedelta(days=7)
    assert await upkept.round() == UpkeepReport(), "refreshed once, not every round"
    refreshes = [path for path in served.graph_requests() if path.endswith("refresh_access_token")]
    assert len(refreshes) == 1


async def test_facebook_login_reminders_once_per_threshold_then_needs_reconnect(served: Served) -> None:
    await served.connect("facebook", "cus_ada")
    upkept = upkeep(served)
    served.meta.clock.advance(45 * DAY)  # 15 days left
    assert await upkept.round() == UpkeepReport()
    served.meta.clock.advance(2 * DAY)  # 13 days left: the 14-day reminder, per account
    assert await upkept.round() == UpkeepReport(reminded=2)
    assert await upkept.round() == UpkeepReport(), "once per threshold"
    served.meta.clock.advance(8 * DAY)  # 5 days left: the 7-day one
    assert await upkept.round() == UpkeepReport(reminded=2)
    served.meta.clock.advance(6 * DAY)  # expired
    assert await upkept.round() == UpkeepReport(needs_reconnect=2)
    assert await upkept.round() == UpkeepReport()
    events = await expiring_events(served)
    assert [(e.account_id, e.reason) for e in events if e.account_id == BAKERY_ACCOUNT_ID] == [
        (BAKERY_ACCOUNT_ID, "token_expiring"),
        (BAKERY_ACCOUNT_ID, "token_expiring"),
        (BAKERY_ACCOUNT_ID, "token_expired"),
    ]
    assert {e.owner_customer_id for e in events} == {"cus_ada"}
    assert {e.username for e in events} == {"ada.bakery", "tiny.shop"}
    connection = await served.components.connections.get(TINY_ACCOUNT_ID)
    assert connection is not None and connection.status == "needs_reconnect"
    headers = await served.pool.fetchval("SELECT headers FROM outbox LIMIT 1")
    assert headers["ce_source"] == "/instagram-sync"


async def test_a_refused_token_needs_reconnect_and_tells_the_client_once(served: Served) -> None:
    served.meta.next_login = NextLogin(instagram_account_id=CREATOR_ACCOUNT_ID)
    await served.connect("instagram", "cus_creator")
    connection = await served.components.connections.get(CREATOR_ACCOUNT_ID)
    assert connection is not None
    served.meta.tokens.invalidate(connection.token, 460)  # the password changed
    served.meta.clock.advance(8 * DAY)
    assert await upkeep(served).round() == UpkeepReport(needs_reconnect=1)
    assert await upkeep(served).round() == UpkeepReport()
    (event,) = await expiring_events(served)
    assert (event.account_id, event.reason, event.owner_customer_id) == (
        CREATOR_ACCOUNT_ID,
        "token_invalid",
        "cus_creator",
    )
    after = await served.components.connections.get(CREATOR_ACCOUNT_ID)
    assert after is not None and after.status == "needs_reconnect" and "460" in (after.status_reason or "")
