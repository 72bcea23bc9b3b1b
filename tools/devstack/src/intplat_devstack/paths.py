"""Where downloaded artefacts and runtime data live: outside the repository's tracked files."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[4]


def cache_dir() -> Path:
    """Downloads that survive between runs (Kafka jars, the stripe-mock binary)."""
    explicit = os.environ.get("INTPLAT_CACHE_DIR")
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "intplat"
    root = Path(explicit) if explicit else default
    root.mkdir(parents=True, exist_ok=True)
    return root


def var_dir() -> Path:
    """Runtime data of `make run` / `make infra` (broker log dirs, PGDATA); git-ignored."""
    root = Path(os.environ.get("INTPLAT_VAR_DIR", REPO_ROOT / "var"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def run_blocking(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


def wait_until_ready(
    probe: Callable[[], Coroutine[Any, Any, bool]],
    *,
    what: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    interval: float = 0.25,
) -> None:
    """Poll `probe` until it answers True; fail early if the server's process died meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it was ready")
        if run_blocking(probe):
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} was not ready within {timeout}s")
