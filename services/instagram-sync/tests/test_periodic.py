"""A round that fails because the database is away (a restart, a failover) is a warning without a traceback; any
other failure is an error with one. Either way the next round comes on time."""

from __future__ import annotations

import asyncio
import logging

import pytest

from instagram_sync.periodic import Periodic


@pytest.mark.parametrize(
    ("failure", "level", "traceback"),
    [(ConnectionResetError(104, "reset"), logging.WARNING, False), (ValueError("a bug"), logging.ERROR, True)],
)
async def test_a_failed_round_is_logged_by_its_cause_and_the_next_one_comes(
    failure: Exception, level: int, traceback: bool, caplog: pytest.LogCaptureFixture
) -> None:
    rounds = 0

    async def round() -> None:
        nonlocal rounds
        rounds += 1
        raise failure

    periodic = Periodic("upkeep", round, interval=0.01)
    task = asyncio.create_task(periodic.run())
    async with asyncio.timeout(10):
        while rounds < 2:
            await asyncio.sleep(0.01)
    await periodic.stop(task)
    failed = [r for r in caplog.records if r.getMessage().startswith("upkeep round failed")]
    assert failed and {(r.levelno, r.exc_info is not None) for r in failed} == {(level, traceback)}
