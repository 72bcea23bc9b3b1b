"""The state gauges the alerts read: accounts on the schedule, the most overdue slot, Meta's blocks, connections by
status and tokens close to expiry, measured from PostgreSQL and served on /metrics."""

from __future__ import annotations

from datetime import timedelta

from intplat_sandboxes.meta import BAKERY_ACCOUNT_ID
from prometheus_client.parser import text_string_to_metric_families

from instagram_sync.schedule import Periods, schedule_account
from instagram_sync.state_metrics import measure

from .conftest import Served


async def test_the_state_gauges(served: Served) -> None:
    await served.connect("facebook", "cus_ada")  # the bakery and the tiny shop, one 60-day Facebook token
    now = served.meta.now()
    async with served.pool.acquire() as conn:
        # Scheduled two hours ago and never emitted since: its first slot is 1-2 hours overdue.
        await schedule_account(conn, BAKERY_ACCOUNT_ID, "hourly", Periods(3600, 86400), now - timedelta(hours=2))
        await conn.execute(
            "INSERT INTO graph_blocks (scope, blocked_until, reason) VALUES ('account:1', $1, 'throttled'),"
            " ('account:2', $2, 'over')",
            now + timedelta(minutes=5),
            now - timedelta(minutes=5),
        )
    state = await measure(served.pool, now)
    assert (state.scheduled, state.blocked) == ({"hourly": 1, "daily": 0}, {"app": 0, "account": 1})
    assert 3600 < state.overdue_seconds <= 7200
    assert (state.connections, state.expiring) == ({"active": 2}, {"1d": 0, "7d": 0})

    later = await measure(served.pool, now + timedelta(days=59, hours=12))
    assert later.expiring == {"1d": 2, "7d": 2}
    text = (await served.client.get("/metrics")).text

    def served_value(name: str, **labels: str) -> float:
        (value,) = [
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        ]
        return value

    assert served_value("instagram_tokens_expiring", within="1d") == 2
    assert served_value("instagram_scheduled_accounts", tier="hourly") == 1
    assert served_value("instagram_graph_blocked", scope="account") == 0, "the block ended long before"
