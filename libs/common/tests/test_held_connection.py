"""A connection held across operations when PostgreSQL restarts (issue 12: the gateway's webhook writer logged
`InternalClientError('cannot switch to state 12; another operation (2) is in progress')` at ERROR).

A real PostgreSQL is restarted (fast shutdown: each idle session gets a FATAL error, then its socket closes). The
client reads the error before it sees the close; a relay between them holds the close back, so the test always
lands in that window instead of sometimes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from intplat_devstack.postgres import LocalPostgres

from intplat_common import HeldConnection, create_pool

pytestmark = pytest.mark.integration


class LateCloseRelay:
    """TCP relay to PostgreSQL that passes every byte but keeps the client's socket open after the server closed."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self.server_closed = asyncio.Event()
        self._clients: list[asyncio.StreamWriter] = []

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._clients.append(client_writer)
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        upward = asyncio.create_task(self._pipe(client_reader, server_writer))
        with contextlib.suppress(OSError):
            await self._pipe(server_reader, client_writer)
        self.server_closed.set()
        upward.cancel()
        server_writer.close()

    async def __aenter__(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aexit__(self, *_: object) -> None:
        for writer in self._clients:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def restartable_postgres(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalPostgres]:
    """A PostgreSQL of this test's own: restarting the session's would break every other test's connections."""
    server = LocalPostgres(Path(tmp_path_factory.mktemp("restart")) / "postgres")
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.stop)


async def test_a_held_connection_ended_by_a_restart_runs_the_operation_on_a_fresh_one(
    restartable_postgres: LocalPostgres,
) -> None:
    server = restartable_postgres
    relay = LateCloseRelay(server.port)
    async with relay as port:
        dsn = server.dsn().replace(f":{server.port}/", f":{port}/")
        pool = await create_pool(dsn, min_size=2, max_size=3)
        try:
            held = HeldConnection(pool)
            assert await held.run(lambda c: c.fetchval("SELECT 1")) == 1
            bare = await pool.acquire()  # a connection used the way the webhook writer used to
            await asyncio.to_thread(server.stop)
            await asyncio.wait_for(relay.server_closed.wait(), 30)
            await asyncio.sleep(0.2)  # the FATAL error the relay passed on reaches the client's protocol
            await asyncio.to_thread(server.start)

            with pytest.raises(asyncpg.InternalClientError, match="another operation"):
                await bare.fetchval("SELECT 1")
            assert await held.run(lambda c: c.fetchval("SELECT 2")) == 2
            await pool.release(bare)
            await held.release()
        finally:
            pool.terminate()
