"""The `scheduler` worker on faust-streaming: a leader-only timer (one scheduler process of all replicas ticks, faust
elects it through its Kafka consumer group) that claims due slots and records their sync requests.

The schedule itself lives in PostgreSQL (schedule.py) and the requests leave through the outbox, not faust's
producer: a slot must move forward in the same transaction that records its event, which only the database can give.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from pathlib import Path

import asyncpg
import faust
from aiokafka.errors import KafkaConnectionError

from intplat_common import DATABASE_GONE, KafkaProbe, finish_task

from .clock import Clock, utc_now
from .schedule import emit_due

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        bootstrap_servers: str,
        app_id: str,
        interval: float,
        replication_factor: int = 1,
        restart_seconds: float = 10.0,
        clock: Clock = utc_now,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._bootstrap_servers = bootstrap_servers
        self._app_id = app_id
        self._interval = interval
        self._replication_factor = replication_factor
        self._restart_seconds = restart_seconds
        self._stopping = asyncio.Event()
        self.emitted = 0

    def _new_app(self, datadir: Path) -> faust.App:
        app = faust.App(
            self._app_id,
            # faust creates its data directory on start, by default `<app id>-data` in the working directory: in
            # the hardened pods (read-only root filesystem, /app owned by root) that fails and no tick ever runs.
            # Nothing is kept there (memory store), so a fresh directory under the temp dir (an emptyDir) will do.
            datadir=str(datadir),
            broker=",".join(f"kafka://{server}" for server in self._bootstrap_servers.split(",")),
            store="memory://",  # no tables: the schedule's state is in PostgreSQL
            web_enabled=False,
            topic_replication_factor=self._replication_factor,
            topic_partitions=1,
            # A scheduler killed (OOM, a lost node) stays the group's leader until its session times out, and no
            # tick runs meanwhile: faust's default of 60 s held the slots that long in the chaos run (57 s).
            broker_session_timeout=10.0,
            broker_heartbeat_interval=3.0,
            autodiscover=False,
        )
        app.timer(self._interval, on_leader=True)(self.tick)
        app.finalize()
        return app

    async def tick(self) -> None:
        # Either way the slot stays due (nothing committed): the next tick claims it.
        try:
            self.emitted += await emit_due(self._pool, self._clock())
        except DATABASE_GONE as exc:
            log.warning("scheduler round failed: database unavailable", extra={"fields": {"error": repr(exc)}})
        except Exception:
            log.exception("scheduler round failed")

    async def run(self) -> None:
        """Runs a faust app until stopped; one that fails (e.g. Kafka unreachable at start) is replaced after a
        pause, as the consumer supervisor replaces a failed runner."""
        probe = KafkaProbe(self._bootstrap_servers)
        try:
            while not self._stopping.is_set():
                try:
                    # A faust app that cannot reach Kafka fails to start and leaks its consumer thread's loop: start
                    # one only when the broker answers.
                    await probe.check()
                except KafkaConnectionError as exc:  # expected while the broker starts: a warning, no traceback
                    log.warning("Kafka not reachable yet; the scheduler waits", extra={"fields": {"error": str(exc)}})
                except Exception:
                    log.exception("Kafka probe failed; the scheduler waits")
                else:
                    await self._run_app()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._restart_seconds)
        finally:
            await probe.close()

    async def _run_app(self) -> None:
        datadir = Path(tempfile.mkdtemp(prefix=f"{self._app_id}-faust-"))
        try:
            app = self._new_app(datadir)
            try:
                await app.start()
                await self._stopping.wait()
            except Exception:
                log.exception("scheduler app failed; starting a new one")
            finally:
                with contextlib.suppress(Exception):
                    await app.stop()
        finally:
            shutil.rmtree(datadir, ignore_errors=True)

    async def stop(self, task: asyncio.Task[None]) -> None:
        self._stopping.set()
        await finish_task(task, grace=30.0)
