"""The shared test utilities against the real broker: reading topics back, from the start or from the end."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from intplat_devstack.testing import TopicReader, eventually, header, header_in, read_records, unique_topic

from intplat_common import TopicConfig, create_producer, ensure_topics

pytestmark = pytest.mark.integration


async def _send(bootstrap: str, topic: str, *ids: str) -> None:
    producer = create_producer(bootstrap, "devstack-tests")
    await producer.start()
    try:
        for event_id in ids:
            await producer.send_and_wait(topic, value=event_id.encode(), headers=[("ce_id", event_id.encode())])
    finally:
        await producer.stop()


async def test_read_from_the_start_or_only_what_comes_after_entering(kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    topic = unique_topic("devstack")
    await ensure_topics(bootstrap, [TopicConfig(topic, 2)], replication_factor=1)
    await _send(bootstrap, topic, "before")

    async with TopicReader(bootstrap, topic, from_end=True) as reader:
        await _send(bootstrap, topic, "after-1", "after-2", "other")
        later = await reader.read(expect=2, timeout=20, where=header_in("ce_id", {"after-1", "after-2"}))
    everything = await read_records(bootstrap, topic, expect=4, timeout=20)

    assert sorted(header(r, "ce_id") or "" for r in later) == ["after-1", "after-2"]
    assert sorted(header(r, "ce_id") or "" for r in everything) == ["after-1", "after-2", "before", "other"]
    assert header(everything[0], "absent") is None


async def test_eventually_returns_the_first_truthy_result_or_fails() -> None:
    calls: list[int] = []

    async def third_time() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert await eventually(third_time, timeout=5) == 3
    with pytest.raises(AssertionError, match=r"never not reached within 0\.2 s"):
        await eventually(lambda: asyncio.sleep(0, result=None), timeout=0.2, what="never")
