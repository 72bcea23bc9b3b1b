"""A worker-only process (`lexoffice-bridge worker booker`) serves /metrics on METRICS_PORT, and stops with it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess

import httpx
from intplat_devstack.paths import free_port, port_open
from intplat_devstack.testing import eventually

# The booker's own measurement, taken on its first round (before it, only the runtime's metrics are there).
BOOKER_BACKLOG = re.compile(r'^effect_pending\{[^}]*ledger="lexoffice-bridge"', re.MULTILINE)


async def test_a_worker_only_process_serves_its_metrics(database: str) -> None:
    port = free_port()
    command = shutil.which("lexoffice-bridge")
    assert command is not None
    env = {
        **os.environ,
        "LEXOFFICE_BRIDGE_DATABASE_URL": database,
        "INTPLAT_ENVIRONMENT": "test",
        "LEXOFFICE_API_BASE": "http://127.0.0.1:9",
        "METRICS_PORT": str(port),
    }
    process = subprocess.Popen([command, "worker", "booker"], env=env, stdout=subprocess.DEVNULL)
    try:

        async def scraped() -> httpx.Response | None:
            if process.poll() is not None:
                raise AssertionError(f"the worker exited with {process.returncode}")
            try:
                async with httpx.AsyncClient() as http:
                    answer = await http.get(f"http://127.0.0.1:{port}/metrics")
            except httpx.TransportError:
                return None
            return answer if BOOKER_BACKLOG.search(answer.text) else None

        answer: httpx.Response = await eventually(scraped, timeout=60, what="/metrics of the worker")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=")
        assert 'service_name="lexoffice-bridge"' in answer.text
        assert re.search(r'^provider_breaker_state\{[^}]*provider="lexoffice"', answer.text, re.MULTILINE)
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(process.wait, 30)
    assert exit_code == 0
    assert not port_open(port), "the metrics server stopped with the process"
