"""Gauges of the service's state in PostgreSQL, for the dashboard and the alerts (deploy/prometheus/rules/
instagram.yaml): accounts on the schedule by tier, how late the most overdue slot is, accounts Meta's budget blocks,
connections by status, active tokens close to expiry. Measured by the `upkeep` worker each round, apart from the
scheduler, so a scheduler that stopped emitting shows as a growing overdue age."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

meter = metrics.get_meter("instagram_sync")
EXPIRY_HORIZONS = {"1d": timedelta(days=1), "7d": timedelta(days=7)}


@dataclass
class State:
    scheduled: dict[str, int] = field(default_factory=dict)
    overdue_seconds: float = 0.0
    blocked: dict[str, int] = field(default_factory=dict)
    connections: dict[str, int] = field(default_factory=dict)
    expiring: dict[str, int] = field(default_factory=dict)


# Observable callbacks run synchronously at export time: they read what the last round measured (None: not yet).
MEASURED: list[State] = []


async def measure(pool: asyncpg.Pool, now: datetime) -> State:
    async with pool.acquire() as conn:
        scheduled = await conn.fetch("SELECT tier, count(*) AS n FROM sync_schedule GROUP BY tier")
        oldest_due = await conn.fetchval("SELECT min(next_slot) FROM sync_schedule WHERE next_slot <= $1", now)
        blocked = await conn.fetch(
            "SELECT CASE WHEN scope = 'app' THEN 'app' ELSE 'account' END AS kind, count(*) AS n FROM graph_blocks"
            " WHERE blocked_until > $1 GROUP BY 1",
            now,
        )
        statuses = await conn.fetch(
            "SELECT c.status, count(*) AS n FROM instagram_accounts a"
            " JOIN integration_credentials c ON c.id = a.credential_id GROUP BY c.status"
        )
        expiring = {
            name: await conn.fetchval(
                "SELECT count(*) FROM instagram_accounts a JOIN integration_credentials c ON c.id = a.credential_id"
                " WHERE c.status = 'active' AND c.expires_at <= $1",
                now + horizon,
            )
            for name, horizon in EXPIRY_HORIZONS.items()
        }
    state = State(
        scheduled=dict.fromkeys(("hourly", "daily"), 0) | {row["tier"]: row["n"] for row in scheduled},
        overdue_seconds=(now - oldest_due).total_seconds() if oldest_due is not None else 0.0,
        blocked={"app": 0, "account": 0} | {row["kind"]: row["n"] for row in blocked},
        connections={row["status"]: row["n"] for row in statuses},
        expiring=expiring,
    )
    MEASURED[:] = [state]
    return state


def _observe(label: str, read: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(_: CallbackOptions) -> Iterable[Observation]:
        values: dict[str, int] = getattr(MEASURED[0], read) if MEASURED else {}
        return [Observation(value, {label: key}) for key, value in values.items()]

    return callback


def _overdue(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(MEASURED[0].overdue_seconds)] if MEASURED else []


meter.create_observable_gauge(
    "instagram_scheduled_accounts", callbacks=[_observe("tier", "scheduled")], description="accounts by tier"
)
meter.create_observable_gauge(
    "instagram_schedule_overdue_seconds", callbacks=[_overdue], unit="s", description="lateness of the oldest due slot"
)
meter.create_observable_gauge(
    "instagram_graph_blocked", callbacks=[_observe("scope", "blocked")], description="app / accounts Meta blocks"
)
meter.create_observable_gauge(
    "instagram_connections", callbacks=[_observe("status", "connections")], description="connections by status"
)
meter.create_observable_gauge(
    "instagram_tokens_expiring",
    callbacks=[_observe("within", "expiring")],
    description="active connections whose token expires within 1 or 7 days",
)
