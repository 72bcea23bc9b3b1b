"""The commands as processes: `notifier migrate`, and `notifier sender` beside a `serve` that does not send."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from .conftest import POSTMARK_TOKEN, SENDER, Platform

pytestmark = pytest.mark.integration

NOTIFIER = str(Path(sys.executable).with_name("notifier"))


async def test_migrate_creates_the_tables(database: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        NOTIFIER, "migrate", env={**os.environ, "NOTIFIER_DATABASE_URL": database, "LOG_LEVEL": "WARNING"}
    )
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    conn = await asyncpg.connect(database)
    try:
        tables = {
            r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    finally:
        await conn.close()
    assert {"inbox", "messages", "customers", "suppressions", "webhook_receipts"} <= tables


@pytest.mark.parametrize("settings_extra", [{"NOTIFIER_EMBEDDED_SENDER": False}], indirect=True)
async def test_sender_as_its_own_process(platform: Platform, database: str, kafka: Any) -> None:
    response = await platform.send_api()
    assert response.json()["status"] == "queued"
    await asyncio.sleep(0.5)
    assert platform.sandbox.messages == [], "serve with NOTIFIER_EMBEDDED_SENDER=false does not send"
    env = {
        **os.environ,
        "NOTIFIER_DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "POSTMARK_API_BASE": platform.sandbox_url,
        "POSTMARK_SERVER_TOKEN": POSTMARK_TOKEN,
        "NOTIFIER_FROM": SENDER,
        "LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(NOTIFIER, "sender", env=env)
    try:
        row = await platform.settled(response.json()["id"])
        assert row["status"] == "sent"
        assert [m.message_id for m in platform.sandbox.messages] == [row["postmark_message_id"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0, "a clean stop on SIGTERM"
