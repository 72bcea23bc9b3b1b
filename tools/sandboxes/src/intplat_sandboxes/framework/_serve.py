"""Serving a sandbox: in the test's event loop, or as a blocking process for `make run`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp


class _InProcessServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Leave SIGINT/SIGTERM to the host process (pytest, the service under test).
        yield


async def _serve(server: uvicorn.Server) -> None:
    try:
        await server.serve()
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
    log_level: str = "warning",
    shutdown_timeout: int = 5,
) -> AsyncIterator[str]:
    """Run `app` on a real socket in the current event loop; yields its base URL.

    `port=0` picks a free port. On exit the server shuts down gracefully, cancelling requests
    still running after `shutdown_timeout` seconds (e.g. ones held by a long `delay` fault).
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
    task = asyncio.create_task(_serve(server), name=f"sandbox-server-{host}:{port}")
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
