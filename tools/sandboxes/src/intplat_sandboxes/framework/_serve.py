"""Serving a sandbox: in the test's event loop, or as a blocking process for `make run`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp


class _InProcessServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Leave SIGINT/SIGTERM to the host process (pytest, the service under test).
        yield


class ReservedPort:
    """A port bound before anything serves on it: its URL can be handed out first (a sandbox's webhook target, a
    service's own callback URL) while no other socket (another test's server, an outgoing connection's ephemeral
    port) can take it. Serve on it with `serve_in_background(app, sock=reserved.listener())`, as often as needed
    (a restart); `close()` gives it up."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sock = socket.socket()
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]

    def listener(self) -> socket.socket:
        """A handle for one server: closing it (the server's shutdown) keeps the reservation."""
        return self._sock.dup()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> ReservedPort:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


async def _serve(server: uvicorn.Server, sock: socket.socket | None) -> None:
    try:
        await server.serve(sockets=[sock] if sock is not None else None)
    except SystemExit as exc:
        # uvicorn exits the process when startup fails (port taken, lifespan error); inside a
        # task SystemExit would escape the event loop instead of failing the caller.
        raise RuntimeError(f"sandbox server failed to start (exit code {exc.code})") from exc


@contextlib.asynccontextmanager
async def serve_in_background(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sock: socket.socket | None = None,
    log_level: str = "warning",
    shutdown_timeout: int = 5,
) -> AsyncIterator[str]:
    """Run `app` on a real socket in the current event loop; yields its base URL.

    `port=0` picks a free port; `sock` (a `ReservedPort.listener()`) serves on a port reserved earlier. On exit the
    server shuts down gracefully, cancelling requests still running after `shutdown_timeout` seconds (e.g. ones
    held by a long `delay` fault).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=log_level,
        access_log=False,
        ws="none",
        timeout_graceful_shutdown=shutdown_timeout,
    )
    server = _InProcessServer(config)
    task = asyncio.create_task(_serve(server, sock), name=f"sandbox-server-{host}:{port}")
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("sandbox server stopped during startup")
            await asyncio.sleep(0.01)
        bound_host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
        url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        await task


def run_sandbox(app: ASGIApp, port: int, *, host: str = "127.0.0.1", log_level: str = "info") -> None:
    """Serve `app` until interrupted (for a provider's CLI entry point / `make run`)."""
    uvicorn.run(app, host=host, port=port, log_level=log_level, ws="none")
