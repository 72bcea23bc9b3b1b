"""DLQ depth: a consumer exports how many records of its `<group>.dlq` wait for a re-drive, back to 0 after one."""

from __future__ import annotations

import asyncpg
import pytest
from intplat_devstack.testing import unique_topic

from intplat_common import ConsumedEvent, ConsumerRunner, dlq_topic
from intplat_common.consumer import redrive_dead_letters

from .kafka_helpers import new_topics, publish_events
from .metrics_helpers import scrape
from .test_consumer import FAST_RETRY, run_until

pytestmark = pytest.mark.integration


def depth(group: str) -> float | None:
    """The group's DLQ depth over its partitions; None before a measurement."""
    samples = [v for labels, v in scrape("consumer_dlq_depth_records").items() if ("group", group) in labels]
    return sum(samples) if samples else None


async def test_dead_letters_count_until_they_are_redriven(kafka, pool) -> None:
    topic, group = unique_topic("c.dlqdepth"), unique_topic("g")
    await new_topics(kafka.bootstrap_servers, topic, dlq_topic(group), partitions=2)
    broken = ["evt_broken_1", "evt_broken_2"]
    await publish_events(kafka.bootstrap_servers, topic, [(e, {"n": i}) for i, e in enumerate([*broken, "evt_fine"])])
    fixed = False
    applied: list[str] = []

    async def handler(conn: asyncpg.Connection, event: ConsumedEvent) -> None:
        if event.event.id in broken and not fixed:
            raise ValueError("a bug")
        applied.append(event.event.id)

    def runner() -> ConsumerRunner:
        return ConsumerRunner(
            group=group,
            topics=[topic],
            handler=handler,
            pool=pool,
            bootstrap_servers=kafka.bootstrap_servers,
            retry=FAST_RETRY,
            dlq_depth_interval=0.2,
        )

    async def two_waiting() -> bool:
        return depth(group) == 2

    await run_until(runner(), two_waiting)
    assert applied == ["evt_fine"]

    fixed = True
    report = await redrive_dead_letters(group=group, bootstrap_servers=kafka.bootstrap_servers, pool=pool, limit=1)
    assert report.redriven == 1

    async def one_waiting_and_applied() -> bool:
        return depth(group) == 1 and len(applied) == 2

    await run_until(runner(), one_waiting_and_applied)

    await redrive_dead_letters(group=group, bootstrap_servers=kafka.bootstrap_servers, pool=pool)

    async def none_waiting() -> bool:
        return depth(group) == 0 and sorted(applied) == sorted([*broken, "evt_fine"])

    await run_until(runner(), none_waiting)
