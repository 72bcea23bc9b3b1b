"""Re-driving a dead-letter topic: after the fix, a record the group gave up on is applied once, and only once."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from intplat_devstack.testing import read_records, unique_topic

from intplat_common import ConsumedEvent, ConsumerRunner, dlq_topic
from intplat_common.consumer import redrive_dead_letters

from .kafka_helpers import new_topics, publish_events
from .test_consumer import FAST_RETRY, effects, run_until

pytestmark = pytest.mark.integration


async def outcome(pool: asyncpg.Pool, group: str) -> Any:
    return await pool.fetchval("SELECT outcome FROM inbox WHERE consumer = $1 AND event_id = 'evt_broken'", group)


async def test_a_dead_letter_is_applied_after_the_fix_and_a_second_run_redrives_nothing(kafka, pool) -> None:
    topic, group = unique_topic("c.redrive"), unique_topic("g")
    await new_topics(kafka.bootstrap_servers, topic, dlq_topic(group), partitions=2)
    await publish_events(kafka.bootstrap_servers, topic, [("evt_broken", {"n": 1}), ("evt_fine", {"n": 2})])
    fixed = False
    seen: list[str] = []

    async def handler(conn: asyncpg.Connection, event: ConsumedEvent) -> None:
        seen.append(event.event.id)
        if event.event.id == "evt_broken" and not fixed:
            raise ValueError("a bug, fixed in the next release")
        await conn.execute("INSERT INTO applied_effects (event_id, consumer) VALUES ($1, $2)", event.event.id, group)

    def runner() -> ConsumerRunner:
        return ConsumerRunner(
            group=group,
            topics=[topic],
            handler=handler,
            pool=pool,
            bootstrap_servers=kafka.bootstrap_servers,
            retry=FAST_RETRY,
        )

    async def dead_lettered() -> bool:
        return await outcome(pool, group) == "dead_lettered" and await effects(pool) == ["evt_fine"]

    await run_until(runner(), dead_lettered)

    listed = await redrive_dead_letters(group=group, bootstrap_servers=kafka.bootstrap_servers, pool=pool, dry_run=True)
    assert [r["event_id"] for r in listed.records] == ["evt_broken"]
    assert listed.records[0]["reason"] == "ValueError: a bug, fixed in the next release"
    assert listed.redriven == 0, "a dry run changes nothing"

    fixed = True
    report = await redrive_dead_letters(group=group, bootstrap_servers=kafka.bootstrap_servers, pool=pool)
    assert (report.redriven, report.by_topic) == (1, {topic: 1})

    async def applied_after_the_fix() -> bool:
        return sorted(await effects(pool)) == ["evt_broken", "evt_fine"]

    await run_until(runner(), applied_after_the_fix)
    assert await outcome(pool, group) == "processed"
    republished = [
        r
        for r in await read_records(kafka.bootstrap_servers, topic, expect=3)
        if dict(r.headers)["ce_id"] == b"evt_broken"
    ]
    assert len(republished) == 2, "the original and the re-driven copy"
    assert not [h for h, _ in republished[1].headers if h.startswith("dlq_")], "no dead-letter headers on the copy"

    again = await redrive_dead_letters(group=group, bootstrap_servers=kafka.bootstrap_servers, pool=pool)
    assert again.redriven == 0, "the DLQ offsets were committed"
    assert sorted(await effects(pool)) == ["evt_broken", "evt_fine"], "applied once"
    assert seen.count("evt_fine") == 1
