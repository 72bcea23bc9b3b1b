"""The scheduler on faust-streaming against a real Kafka: stopped mid-period and started again, it neither skips nor
repeats a slot; the requests reach `instagram.sync.requested.v1` keyed by account, through the outbox."""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
import tempfile
import uuid
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from intplat_devstack.testing import eventually, read_records

from instagram_sync.schedule import Periods, schedule_account
from instagram_sync.scheduler import Scheduler
from intplat_common import OutboxRelay, TopicConfig, create_producer, ensure_topics
from intplat_common.events import InstagramSyncRequested

PERIOD = 2


async def _run_until(scheduler: Scheduler, emitted: int) -> None:
    task = asyncio.create_task(scheduler.run())
    try:
        await eventually(
            lambda: asyncio.sleep(0, scheduler.emitted >= emitted or None), timeout=90, what=f"{emitted} slots"
        )
    finally:
        await scheduler.stop(task)


async def test_a_restart_neither_skips_nor_repeats_a_slot(
    pool: asyncpg.Pool, kafka: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pods' working directory is read-only: the scheduler must not write there (faust's default data directory).
    monkeypatch.chdir(tmp_path)
    bootstrap = kafka.bootstrap_servers
    await ensure_topics(bootstrap, [TopicConfig(InstagramSyncRequested.TOPIC, 3)], replication_factor=1)
    accounts = [f"acct-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    async with pool.acquire() as conn:
        for account in accounts:
            await schedule_account(conn, account, "hourly", Periods(hourly=PERIOD, daily=86400), datetime.now(UTC))
    relay = OutboxRelay(pool, lambda: create_producer(bootstrap, "instagram-sync-test-relay"))
    relay_task = asyncio.create_task(relay.run())
    app_id = f"instagram-sync-test-{uuid.uuid4().hex[:6]}"

    def scheduler() -> Scheduler:
        return Scheduler(pool, bootstrap_servers=bootstrap, app_id=app_id, interval=0.3)

    try:
        await _run_until(scheduler(), emitted=6)
        await asyncio.sleep(3 * PERIOD)  # the scheduler is down for three periods
        await _run_until(scheduler(), emitted=12)
    finally:
        await relay.stop(relay_task)

    records = await read_records(
        bootstrap,
        InstagramSyncRequested.TOPIC,
        expect=18,
        quiet=3,
        where=lambda r: r.key is not None and r.key.decode() in accounts,
    )
    for account in accounts:
        mine = [json.loads(r.value) for r in records if r.key == account.encode() and r.value is not None]
        windows = [(m["window_start"], m["window_end"]) for m in mine]
        assert len(windows) == len(set(windows)), f"{account}: a slot twice"
        assert all(a[1] == b[0] for a, b in pairwise(windows)), f"{account}: a slot skipped: {windows}"
        assert len(windows) >= 6, "the slots missed while it was down were emitted after the restart"
    assert os.listdir(tmp_path) == [], "the scheduler wrote to its working directory"
    assert glob.glob(os.path.join(tempfile.gettempdir(), f"{app_id}-faust-*")) == [], "faust's directory was left"


async def test_without_kafka_the_scheduler_keeps_trying_and_stops_cleanly(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = Scheduler(
        pool, bootstrap_servers="127.0.0.1:1", app_id="unreachable", interval=0.3, restart_seconds=0.1
    )
    task = asyncio.create_task(scheduler.run())

    async def failures() -> int | None:
        waits = [r for r in caplog.records if r.getMessage() == "Kafka not reachable yet; the scheduler waits"]
        assert all(r.levelno == logging.WARNING and r.exc_info is None for r in waits), (
            "expected at start: no traceback"
        )
        return len(waits) if len(waits) >= 2 else None

    await eventually(failures, timeout=60, what="two attempts, each waiting for the broker")
    await scheduler.stop(task)
    assert task.done() and not task.cancelled() and task.exception() is None
