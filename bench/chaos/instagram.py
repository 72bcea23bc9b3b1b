"""instagram-sync under the same faults: a few connected accounts on the "hourly" tier (a slot every
`INSTAGRAM_PERIOD_SECONDS`), scheduled by faust's leader timer, requested through the outbox and Kafka, synced from
the Meta sandbox into snapshots. Afterwards: per account, the scheduled windows follow each other without a gap or
an overlap (no slot skipped, none twice), and each sync request has exactly one snapshot."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import asyncpg
import httpx
from intplat_devstack.demo_instagram import connect_account
from intplat_devstack.samples import LATEST_API_VERSION, build_event, fetch_fixture_objects
from intplat_devstack.testing import header, read_records, stripe_signature

from intplat_common.events import InstagramSyncRequested

from .platform import INTERNAL_KEY, WEBHOOK_SECRET, Platform

ACCOUNTS = 3


async def schedule_accounts(platform: Platform, http: httpx.AsyncClient) -> list[str]:
    """Connects ACCOUNTS accounts (Meta's dialog in the sandbox) and puts their customers on the hourly plan with a
    signed `customer.subscription.updated` each, through the gateway; returns the account ids once scheduled."""
    accounts = []
    for n in range(ACCOUNTS):
        customer = f"cus_chaos_ig_{n}"
        accounts.append(
            await connect_account(
                http,
                customer,
                INTERNAL_KEY,
                instagram_sync=platform.urls["instagram"],
                meta_sandbox=platform.urls["meta"],
            )
        )
        objects = await fetch_fixture_objects(platform.urls["stripe"], http, customer_id=customer)
        event = build_event(
            "customer.subscription.updated", objects["customer.subscription.updated"], api_version=LATEST_API_VERSION
        )
        body = json.dumps(event).encode()
        answer = await http.post(
            f"{platform.urls['gateway']}/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET), "Content-Type": "application/json"},
        )
        answer.raise_for_status()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await _scheduled(platform.databases["instagram"]) >= set(accounts):
            return accounts
        await asyncio.sleep(0.5)
    raise TimeoutError(f"accounts {accounts} were not scheduled within 60 s")


async def _scheduled(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {row["account_id"] for row in await conn.fetch("SELECT account_id FROM sync_schedule")}
    finally:
        await conn.close()


@dataclass(frozen=True)
class SyncOutcome:
    accounts: int
    requests: int  # distinct sync requests (CloudEvents ids)
    snapshots: int
    skipped_slots: int  # a scheduled window that does not start where the previous one ended
    repeated_slots: int  # a scheduled window requested under two ids
    missing_snapshots: int  # requests without their snapshot
    extra_snapshots: int  # snapshots beyond one per request

    @property
    def ok(self) -> bool:
        problems = (self.skipped_slots, self.repeated_slots, self.missing_snapshots, self.extra_snapshots)
        return self.requests > 0 and not any(problems)

    def describe(self) -> str:
        return (
            f"{self.accounts} accounts, {self.requests} sync requests, {self.snapshots} snapshots: "
            f"{self.skipped_slots} slots skipped, {self.repeated_slots} requested twice, "
            f"{self.missing_snapshots} requests without a snapshot, {self.extra_snapshots} snapshots too many"
        )


async def sync_outcome(platform: Platform, accounts: list[str], wait_seconds: float = 60) -> SyncOutcome:
    """After the scheduler stopped: waits (up to `wait_seconds`) until every request has its snapshot, then counts."""
    deadline = time.monotonic() + wait_seconds
    while True:
        requests = await _requests(platform, accounts)
        snapshots = await _snapshots(platform.databases["instagram"], accounts)
        if all(snapshots.get(a, 0) >= len(requests[a]) for a in accounts) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    skipped = repeated = missing = extra = 0
    for account in accounts:
        windows = sorted((r["window_start"], r["window_end"]) for r in requests[account].values()
                         if r.get("trigger", "schedule") == "schedule")  # fmt: skip
        repeated += len(windows) - len(set(windows))
        skipped += sum(1 for a, b in pairwise(sorted(set(windows))) if a[1] != b[0])
        missing += max(0, len(requests[account]) - snapshots.get(account, 0))
        extra += max(0, snapshots.get(account, 0) - len(requests[account]))
    return SyncOutcome(
        accounts=len(accounts),
        requests=sum(len(r) for r in requests.values()),
        snapshots=sum(snapshots.values()),
        skipped_slots=skipped,
        repeated_slots=repeated,
        missing_snapshots=missing,
        extra_snapshots=extra,
    )


async def _requests(platform: Platform, accounts: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per account, its sync requests on Kafka by CloudEvents id (a record re-published is one request)."""
    records = await read_records(platform.bootstrap, InstagramSyncRequested.TOPIC, quiet=2.0, timeout=60)
    found: dict[str, dict[str, dict[str, Any]]] = {account: {} for account in accounts}
    for record in records:
        if record.value is None or record.key is None or record.key.decode() not in found:
            continue
        found[record.key.decode()][header(record, "ce_id") or ""] = json.loads(record.value)
    return found


async def _snapshots(dsn: str, accounts: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT account_id, count(*) AS n FROM instagram_account_snapshots WHERE account_id = ANY($1::text[])"
            " GROUP BY account_id",
            accounts,
        )
        return {row["account_id"]: row["n"] for row in rows}
    finally:
        await conn.close()
