"""A toxiproxy server of our own and its HTTP API: one proxy per dependency, toxics added and removed per fault."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import httpx
from intplat_devstack.paths import free_port
from intplat_devstack.toxiproxy import toxiproxy_command


class Toxiproxy:
    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    async def start(self) -> None:
        self._process = subprocess.Popen(toxiproxy_command(self.port), stdout=subprocess.DEVNULL)
        for _ in range(100):
            try:
                (await self._http.get("/version")).raise_for_status()
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        raise TimeoutError("toxiproxy never answered")

    async def proxy(self, name: str, upstream_port: int) -> int:
        """A proxy to 127.0.0.1:`upstream_port`; returns the port it listens on."""
        port = free_port()
        body = {"name": name, "listen": f"127.0.0.1:{port}", "upstream": f"127.0.0.1:{upstream_port}"}
        (await self._http.post("/proxies", json=body)).raise_for_status()
        return port

    async def add_toxic(self, proxy: str, kind: str, attributes: dict[str, Any], stream: str = "downstream") -> None:
        body = {"name": f"{kind}_{stream}", "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes}
        (await self._http.post(f"/proxies/{proxy}/toxics", json=body)).raise_for_status()

    async def clear(self, proxy: str) -> None:
        toxics = (await self._http.get(f"/proxies/{proxy}/toxics")).json()
        for toxic in toxics:
            (await self._http.delete(f"/proxies/{proxy}/toxics/{toxic['name']}")).raise_for_status()

    async def close(self) -> None:
        await self._http.aclose()
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
