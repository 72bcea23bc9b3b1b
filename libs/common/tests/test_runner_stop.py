"""Stopping a runner after the broker went away: aiokafka's own cancelled fetch task must not fail the shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from intplat_common import ConsumerRunner


class BrokerGoneConsumer:
    """Stands in for aiokafka's consumer whose fetcher re-raises its fetch task's cancellation from `stop()`."""

    def __init__(self) -> None:
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True
        raise asyncio.CancelledError

    def assignment(self) -> set[Any]:
        return set()


def runner() -> ConsumerRunner:
    async def handler(*_: Any) -> None:
        raise AssertionError("no record here")

    return ConsumerRunner(group="g", topics=["t"], handler=handler, pool=None, bootstrap_servers="127.0.0.1:1")


async def test_a_cancelled_fetch_task_inside_the_client_does_not_fail_the_stop() -> None:
    consumer = BrokerGoneConsumer()
    stopping = runner()
    stopping._consumer = consumer
    await asyncio.wait_for(stopping.stop(), 5)
    assert consumer.stopped


async def test_cancelling_the_stop_itself_still_cancels_it() -> None:
    started = asyncio.Event()

    class SlowConsumer(BrokerGoneConsumer):
        async def stop(self) -> None:
            started.set()
            await asyncio.sleep(3600)

    stopping = runner()
    stopping._consumer = SlowConsumer()
    task = asyncio.create_task(stopping.stop())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
