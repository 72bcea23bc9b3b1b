"""Stopping the long-running loops (relay, consumer supervisor, sender) the same way."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def finish_task(task: asyncio.Task[Any], grace: float) -> None:
    """Wait up to `grace` seconds for a task that was asked to stop to end by itself; then cancel it and wait."""
    try:
        await asyncio.wait_for(asyncio.shield(task), grace)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
