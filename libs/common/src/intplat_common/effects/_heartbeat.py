"""The lease of one round's claimed rows, kept while its worker still works on them.

A claim leases its rows for `lease_seconds`. While the round runs (look-ups, preparation, slow provider calls), the
heartbeat renews the rows still `sending` under the round's claim token every third of the lease. A worker that dies
(kill -9) stops renewing, so its rows are claimable again within one lease, while a live worker's call, however slow,
keeps its row: the lease can be short without a second claimer ever attempting a row that is still in flight.

A row is attempted only while `held` says so: its lease was renewed less than a lease ago, measured from before the
renewal was sent (the database's lease ends no earlier). When renewals fail (the database unreachable), the rows
whose lease may have run out are not attempted, and a call still running when that moment comes is cancelled
(`within_lease`): this worker never acts on a row past its lease. Whoever claims the row next waits the ledger's
take-over delay after the lease's end and looks it up first, so a request cancelled on the wire has shown by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Collection, Sequence
from types import TracebackType
from typing import TypeVar

import asyncpg

from ._ledger import EffectLedger

log = logging.getLogger(__name__)

Claimed = tuple[uuid.UUID, uuid.UUID | None]  # (row id, claim token)
T = TypeVar("T")


class LeaseHeartbeat:
    """`async with LeaseHeartbeat(...)`: renews in the background from entry to exit; `held` before each attempt."""

    def __init__(
        self,
        ledger: EffectLedger,
        pool: asyncpg.Pool,
        rows: Sequence[Claimed],
        *,
        lease_seconds: float,
        claimed_at: float,
        name: str,
    ) -> None:
        """`claimed_at`: `time.monotonic()` taken before the claim statement was sent."""
        self._ledger = ledger
        self._pool = pool
        self._rows = list(rows)
        self._lease = lease_seconds
        self._name = name
        self._renewed_at = claimed_at
        self._held_until = {row_id: claimed_at + lease_seconds for row_id, _ in rows}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeaseHeartbeat:
        self._task = asyncio.create_task(self._beat(), name=f"{self._name} lease heartbeat")
        return self

    async def __aexit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def held(self, row_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """The rows among `row_ids` this round may attempt now. A row not returned was settled, parked or taken over,
        or its lease may have run out (renewals failed)."""
        now = time.monotonic()
        return {row_id for row_id in row_ids if self._held_until.get(row_id, 0.0) > now}

    async def within_lease(self, row_ids: Collection[uuid.UUID], call: Awaitable[T]) -> T | None:
        """`call` (the attempt of `row_ids`), cancelled should the lease of one of them run out before it ends
        (renewals kept failing); None then, the rows left `sending` for whoever claims them next."""
        task = asyncio.ensure_future(call)
        try:
            while not task.done():
                remaining = min(self._held_until.get(row_id, 0.0) for row_id in row_ids) - time.monotonic()
                if remaining <= 0:
                    log.warning("lease ran out mid-call; call cancelled", extra={"fields": {"ledger": self._name}})
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    return None
                # Woken at the lease's end at the latest; the heartbeat has moved it on by then while renewals work.
                await asyncio.wait({task}, timeout=remaining)
        except BaseException:
            task.cancel()
            raise
        return task.result()

    async def _renew(self) -> None:
        sent_at = time.monotonic()
        held = await self._ledger.renew_lease(self._pool, self._rows, self._lease)
        # Rows not renewed are no longer `sending` under this round's token: never renewed again.
        self._rows = [row for row in self._rows if row[0] in held]
        self._held_until = dict.fromkeys(held, sent_at + self._lease)
        self._renewed_at = sent_at

    async def _beat(self) -> None:
        while self._rows:
            await asyncio.sleep(max(self._renewed_at + self._lease / 3 - time.monotonic(), 0.0))
            try:
                await self._renew()
            except Exception as exc:
                log.warning("lease renewal failed", extra={"fields": {"ledger": self._name, "error": repr(exc)}})
                await asyncio.sleep(min(self._lease / 10, 1.0))
