"""A pool connection kept across operations by a hot loop (no acquire and reset round trips per operation).

While it sits idle, PostgreSQL may end its session (a restart, `pg_terminate_backend`): the server sends a FATAL
error and closes the socket. asyncpg reads the error as a message out of turn and waits for a sync point that never
comes; until it has also seen the socket close, `is_closed()` is still False and the next statement fails with
`InternalClientError('cannot switch to state 12; another operation (2) is in progress')` before anything is sent.
`HeldConnection.run` then gives that connection back and runs the operation once more on a fresh one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

log = logging.getLogger(__name__)
T = TypeVar("T")


class HeldConnection:
    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout: float = 5.0) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._conn: asyncpg.Connection | None = None

    async def run(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`operation` (one transaction, so that running it again is safe) on the held connection."""
        held = self._conn
        if held is not None and _open(held):
            try:
                return await operation(held)
            except asyncpg.InternalClientError as exc:
                log.warning(
                    "held database connection was ended by the server; running again on a fresh one",
                    extra={"fields": {"error": repr(exc)}},
                )
        await self.release()
        self._conn = await self._pool.acquire(timeout=self._acquire_timeout)
        return await operation(self._conn)

    async def release(self) -> None:
        """Give the connection back (the pool replaces a broken one); the next `run` acquires afresh."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await self._pool.release(conn, timeout=2)


def _open(conn: asyncpg.Connection) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool has already taken back a connection that died
        return False
