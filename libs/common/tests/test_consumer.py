import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from intplat_devstack.testing import read_records, unique_topic

from intplat_common import ConsumedEvent, ConsumerRunner, PoisonMessage, RetryPolicy, TransientError, dlq_topic

from .kafka_helpers import new_topics, publish_events
from .metrics_helpers import scrape

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


async def effects(pool: asyncpg.Pool) -> list[str]:
    return [r["event_id"] for r in await pool.fetch("SELECT event_id FROM applied_effects ORDER BY id")]


async def run_until(runner: ConsumerRunner, condition: Any, timeout: float = 30.0) -> None:
    task = asyncio.create_task(runner.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await condition():
            assert loop.time() < deadline, "condition not reached in time"
            assert not task.done(), f"runner ended early: {task}"
            await asyncio.sleep(0.1)
    finally:
        await runner.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def recording_handler(group: str, fail_times: dict[str, int] | None = None) -> Any:
    calls: dict[str, int] = {}

    async def handler(conn: asyncpg.Connection, event: ConsumedEvent) -> None:
        calls[event.event.id] = calls.get(event.event.id, 0) + 1
        await conn.execute(
            "INSERT INTO applied_effects (event_id, consumer) VALUES ($1, $2)",
            event.event.id,
            group,
        )
        if fail_times and calls[event.event.id] <= fail_times.get(event.event.id, 0):
            raise ConnectionResetError("provider hiccup")  # after the write: the rollback must undo it

    handler.calls = calls  # type: ignore[attr-defined]
    return handler


async def test_transient_failure_is_retried_and_applied_once(kafka, pool) -> None:
    topic, group = unique_topic("c.transient"), unique_topic("g")
    await new_topics(kafka.bootstrap_servers, topic, dlq_topic(group))
    await publish_events(kafka.bootstrap_servers, topic, [("evt_a", {}), ("evt_b", {})])
    handler = recording_handler(group, fail_times={"evt_a": 2})
    runner = ConsumerRunner(
        group=group,
        topics=[topic],
        handler=handler,
        pool=pool,
        bootstrap_servers=kafka.bootstrap_servers,
        retry=FAST_RETRY,
    )

    async def both_applied() -> bool:
        return sorted(await effects(pool)) == ["evt_a", "evt_b"]

    await run_until(runner, both_applied)
    assert handler.calls == {"evt_a": 3, "evt_b": 1}
    assert sorted(await effects(pool)) == ["evt_a", "evt_b"], "failed attempts left no writes behind"


async def test_always_failing_record_ends_in_dlq_with_reason(kafka, pool) -> None:
    topic, group = unique_topic("c.dlq"), unique_topic("g")
    await new_topics(kafka.bootstrap_servers, topic, dlq_topic(group))
    await publish_events(kafka.bootstrap_servers, topic, [("evt_bad", {"x": 1}), ("evt_good", {})])

    async def handler(conn: asyncpg.Connection, event: ConsumedEvent) -> None:
        if event.event.id == "evt_bad":
            raise ValueError("amount must be positive")
        await conn.execute(
            "INSERT INTO applied_effects (event_id, consumer) VALUES ($1, $2)",
            event.event.id,
            group,
        )

    runner = ConsumerRunner(
        group=group,
        topics=[topic],
        handler=handler,
        pool=pool,
        bootstrap_servers=kafka.bootstrap_servers,
        retry=FAST_RETRY,
    )

    async def good_applied() -> bool:
        return await effects(pool) == ["evt_good"]

    await run_until(runner, good_applied)
    dead = await read_records(kafka.bootstrap_servers, dlq_topic(group), expect=1)
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers["ce_id"] == b"evt_bad"
    assert headers["dlq_reason"] == b"ValueError: amount must be positive"
    assert headers["dlq_attempts"] == b"3"
    assert headers["dlq_original_topic"] == topic.encode()
    assert dead[0].value == b'{"x": 1}'
    outcome = await pool.fetchval("SELECT outcome FROM inbox WHERE consumer = $1 AND event_id = 'evt_bad'", group)
    assert outcome == "dead_lettered"


async def test_poison_and_invalid_envelopes_go_to_dlq_without_retries(kafka, pool) -> None:
    from intplat_common import create_producer

    topic, group = unique_topic("c.poison"), unique_topic("g")
    await new_topics(kafka.bootstrap_servers, topic, dlq_topic(group))
    producer = create_producer(kafka.bootstrap_servers, "raw")
    await producer.start()
    await producer.send_and_wait(topic, value=b"not json at all", key=b"k")  # no CloudEvents headers
    await producer.stop()
    await publish_events(kafka.bootstrap_servers, topic, [("evt_poison", {"amount": "ten"})])
    attempts = 0

    async def handler(conn: asyncpg.Connection, event: ConsumedEvent) -> None:
        nonlocal attempts
        attempts += 1
        raise PoisonMessage("amount: not an integer")

    runner = ConsumerRunner(
        group=group,
        topics=[topic],
        handler=handler,
        pool=pool,
        bootstrap_servers=kafka.bootstrap_servers,
        retry=FAST_RETRY,
    )
    dead: list[Any] = []

    async def two_dead() -> bool:
        dead[:] = await read_records(kafka.bootstrap_servers, dlq_topic(group), expect=2, timeout=1)
        return len(dead) == 2

    await run_until(runner, two_dead)
    reasons = sorted(dict(r.headers)["dlq_reason"].decode() for r in dead)
    assert reasons[0].startswith("invalid envelope:")
    assert reasons[1] == "poison: amount: not an integer"
    assert attempts == 1


async def test_redelivery_after_crash_between_db_commit_and_offset_commit_is_not_reapplied(
    kafka,
    pool,
    monkeypatch,
) -> None:
    topic, group = unique_topic("c.redeliver"), unique_topic("g")
    await new_topics(kafka.bootstrap_servers, topic, dlq_topic(group))
    ids = [f"evt_{i}" for i in range(20)]
    await publish_events(kafka.bootstrap_servers, topic, [(i, {}) for i in ids])

    crashed = ConsumerRunner(
        group=group,
        topics=[topic],
        handler=recording_handler(group),
        pool=pool,
        bootstrap_servers=kafka.bootstrap_servers,
    )

    async def no_commit(self: ConsumerRunner, partitions: Any) -> None:  # the crash: offsets never committed
        return None

    monkeypatch.setattr(ConsumerRunner, "_commit", no_commit)

    async def all_applied() -> bool:
        return len(await effects(pool)) == 20

    await run_until(crashed, all_applied)
    monkeypatch.undo()

    handler = recording_handler(group)
    restarted = ConsumerRunner(
        group=group,
        topics=[topic],
        handler=handler,
        pool=pool,
        bootstrap_servers=kafka.bootstrap_servers,
    )

    async def redelivered() -> bool:
        seen = await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", group)
        return seen == 20 and len(handler.calls) == 0 and await _committed(kafka, group, topic) == 20

    await run_until(restarted, redelivered)
    assert sorted(await effects(pool)) == sorted(ids), "every event applied exactly once"


async def _committed(kafka: Any, group: str, topic: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


@pytest.mark.chaos
async def test_kill_9_of_a_consumer_mid_batch_loses_nothing(kafka, pool, database) -> None:
    topic, group = unique_topic("c.kill"), unique_topic("g")
    await new_topics(kafka.bootstrap_servers, topic, dlq_topic(group))
    n = 400
    ids = [f"evt_{i}" for i in range(n)]
    await publish_events(kafka.bootstrap_servers, topic, [(i, {}) for i in ids])

    script = Path(__file__).with_name("consumer_process.py")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, str(script), kafka.bootstrap_servers, database, topic, group]
    for round_ in range(2):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            target = 60 * (round_ + 1)
            while len(await effects(pool)) < target:
                assert loop.time() < deadline and proc.poll() is None, "consumer made no progress"
                await asyncio.sleep(0.05)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    partial = len(await effects(pool))
    assert partial < n, "the kill must land mid-stream for this test to mean anything"

    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while len(set(await effects(pool))) < n:
            assert loop.time() < deadline, "not all events were applied after restart"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    applied = await effects(pool)
    assert sorted(applied) == sorted(ids), "each event's effect exactly once: none lost, none doubled"


async def test_lag_per_partition_is_exported_while_a_record_is_stuck_and_drops_to_zero(kafka, pool) -> None:
    topic, group = unique_topic("c.lag"), unique_topic("g")
    await new_topics(kafka.bootstrap_servers, topic, dlq_topic(group), partitions=1)
    await publish_events(kafka.bootstrap_servers, topic, [(f"evt_{i}", {}) for i in range(4)])
    blocked = asyncio.Event()
    blocked.set()

    async def handler(conn: asyncpg.Connection, event: ConsumedEvent) -> None:
        if blocked.is_set():
            raise TransientError("provider down")  # retried without limit: the partition is stuck
        await conn.execute("INSERT INTO applied_effects (event_id, consumer) VALUES ($1, $2)", event.event.id, group)

    runner = ConsumerRunner(
        group=group, topics=[topic], handler=handler, pool=pool, bootstrap_servers=kafka.bootstrap_servers,
        retry=FAST_RETRY,
    )  # fmt: skip
    labels = (("group", group), ("partition", "0"), ("topic", topic))

    async def stuck_with_lag() -> bool:
        return scrape("consumer_lag_records").get(labels) == 4

    async def caught_up() -> bool:
        blocked.clear()
        return len(await effects(pool)) == 4 and scrape("consumer_lag_records").get(labels) == 0

    task = asyncio.create_task(runner.run())
    try:
        for condition in (stuck_with_lag, caught_up):
            deadline = asyncio.get_running_loop().time() + 30
            while not await condition():
                assert asyncio.get_running_loop().time() < deadline, f"{condition.__name__} not reached"
                assert not task.done(), f"runner ended early: {task}"
                await asyncio.sleep(0.1)
    finally:
        await runner.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert labels not in scrape("consumer_lag_records"), "a stopped runner reports no lag"
