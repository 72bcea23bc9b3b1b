"""The lease of one round's claimed rows, kept while its worker still works on them.

A claim leases its rows for `lease_seconds`. While the round runs (look-ups, preparation, slow provider calls), the
heartbeat renews the rows still `sending` under the round's claim token every third of the lease. A worker that dies
(kill -9) stops renewing, so its rows are claimable again within one lease, while a live worker's call, however slow,
keeps its row: the lease can be short without a second claimer ever attempting a row that is still in flight.

A row is attempted only while `held` says so: its lease was renewed less than a lease ago, measured from before the
renewal was sent (the database's lease ends no earlier). When renewals fail (the database unreachable), the rows
whose lease may have run out are not attempted; whoever claims them next looks them up first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Collection, Sequence
from types import TracebackType

import asyncpg

from ._ledger import EffectLedger

log = logging.getLogger(__name__)

Claimed = tuple[uuid.UUID, uuid.UUID | None]  # (row id, claim token)


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
        self._lock = asyncio.Lock()
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

    async def held(self, row_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """The rows among `row_ids` this round may attempt now (renewed first when the last renewal is a third of a
        lease old). A row not returned was settled, parked or taken over, or its lease may have run out."""
        if time.monotonic() - self._renewed_at >= self._lease / 3:
            await self.renew()
        now = time.monotonic()
        return {row_id for row_id in row_ids if self._held_until.get(row_id, 0.0) > now}

    async def renew(self) -> None:
        async with self._lock:
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
                await self.renew()
            except Exception as exc:
                log.warning("lease renewal failed", extra={"fields": {"ledger": self._name, "error": repr(exc)}})
                await asyncio.sleep(min(self._lease / 10, 1.0))
