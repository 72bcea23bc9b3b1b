"""`make demo`'s Instagram part: the demo customer connects a Meta sandbox account (Instagram Login, the sandbox's
dev login scripted to a fresh account), and after the demo's subscription event the account's tier and next slot
are printed, as instagram-sync's connection status shows them."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx

INSTAGRAM_SYNC = os.environ.get("INSTAGRAM_SYNC_URL", "http://127.0.0.1:8004")
META_SANDBOX = os.environ.get("META_GRAPH_API_BASE", "http://127.0.0.1:8103")


async def connect_account(
    http: httpx.AsyncClient,
    customer_id: str,
    api_key: str,
    *,
    instagram_sync: str = INSTAGRAM_SYNC,
    meta_sandbox: str = META_SANDBOX,
) -> str:
    """As the client portal and the client's browser would: a connect link, Meta's dialog, the callback."""
    (account,) = (await http.post(f"{meta_sandbox}/_sandbox/meta/accounts", json={"count": 1})).json()
    scripted = await http.put(f"{meta_sandbox}/_sandbox/meta/login", json={"instagram_account_id": account["id"]})
    scripted.raise_for_status()
    link = await http.post(
        f"{instagram_sync}/v1/instagram/connect-links",
        json={"customer_id": customer_id, "login": "instagram"},
        headers={"X-Internal-Api-Key": api_key},
    )
    link.raise_for_status()
    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as browser:  # its own cookies
        connected = await browser.get(link.json()["url"])
    connected.raise_for_status()
    (account_id,) = connected.json()["connected"]
    return str(account_id)


async def scheduled(
    http: httpx.AsyncClient, account_id: str, api_key: str, wait_seconds: float = 30.0
) -> dict[str, Any]:
    """The account's connection status once it has a place on the schedule (or as it is after `wait_seconds`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        answer = await http.get(
            f"{INSTAGRAM_SYNC}/v1/accounts/{account_id}/connection", headers={"X-Internal-Api-Key": api_key}
        )
        answer.raise_for_status()
        status: dict[str, Any] = answer.json()
        if status["schedule"] is not None or loop.time() >= deadline:
            return status
        await asyncio.sleep(1)


def describe(status: dict[str, Any]) -> str:
    schedule = status["schedule"]
    who = f"{status['account_id']} (@{status['username']}, {status['customer_id']}, {status['status']})"
    if schedule is None:
        return f"  {who}: not scheduled (no Instagram plan for the customer)"
    return f"  {who}: tier {schedule['tier']}, every {schedule['period_seconds']} s, next slot {schedule['next_slot']}"
