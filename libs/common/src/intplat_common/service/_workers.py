"""Starting and stopping a service's background workers, inside the HTTP process or as a process of their own."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping, Sequence

from ._spec import Worker

log = logging.getLogger(__name__)


class WorkerSet:
    """The named workers a process runs; stopped in reverse start order, each finishing its batch first."""

    def __init__(self, available: Mapping[str, Worker], names: Sequence[str]) -> None:
        unknown = sorted(set(names) - set(available))
        if unknown:
            raise ValueError(f"unknown worker(s) {unknown}; this service has {sorted(available)}")
        self._workers = {name: available[name] for name in names}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        for name, worker in self._workers.items():
            self._tasks[name] = asyncio.create_task(worker.run(), name=name)
            log.info("worker started", extra={"fields": {"worker": name}})

    async def stop(self) -> None:
        for name in reversed(list(self._tasks)):
            await self._workers[name].stop(self._tasks.pop(name))


async def run_until_signalled(workers: WorkerSet) -> None:
    """Run the workers until SIGINT or SIGTERM, then stop them gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    workers.start()
    try:
        await stop.wait()
    finally:
        await workers.stop()
