"""What every provider sandbox's tests check the same way: every answer against the provider's contract (and, once
the whole module ran, that every schema was checked by some test), and that the sandbox's console script (what
`make run` starts) serves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Collection
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import httpx
import pytest
from intplat_devstack.contracts import ProviderContract

Route = tuple[str, str, str]
"""(method, path regex, schema name) of an answer the contract describes."""


class ContractCheck:
    """Checks answers against a provider's contract and remembers which schemas some test checked.

    `contracted_path` maps a request path to the one the routes are written for, or None for paths the contract does
    not cover (control routes); `error_schema(path, status)` names the schema of a 4xx/5xx answer."""

    def __init__(
        self,
        contract: ProviderContract,
        routes: list[Route],
        *,
        contracted_path: Callable[[str], str | None],
        error_schema: Callable[[str, int], str | None],
    ) -> None:
        self.contract = contract
        self.routes = routes
        self._contracted_path = contracted_path
        self._error_schema = error_schema
        self.checked: set[str] = set()

    def schema_for(self, method: str, path: str, status: int) -> str | None:
        contracted = self._contracted_path(path)
        if contracted is None:
            return None
        if status >= 400:
            return self._error_schema(contracted, status)
        matches = (name for m, pattern, name in self.routes if m == method and re.fullmatch(pattern, contracted))
        return next(matches, None)

    def check(self, name: str, document: Any, where: str = "") -> None:
        self.checked.add(name)
        violations = self.contract.violations(name, document)
        assert violations == [], f"{where} → {name}: {violations}"

    async def response_hook(self, response: httpx.Response) -> None:
        """An httpx response event hook: the answer's JSON body against its schema, where the contract has one (a
        scripted non-JSON error page is no provider answer)."""
        await response.aread()
        request = response.request
        name = self.schema_for(request.method, request.url.path, response.status_code)
        is_json = response.headers.get("content-type", "").startswith("application/json")
        if name is not None and response.content and is_json:
            self.check(name, response.json(), f"{request.method} {request.url.path}")

    def assert_all_checked(self, request: pytest.FixtureRequest, *, also: Collection[str] = ()) -> None:
        """At module teardown: when the whole module ran, every route's schema and `also` were checked."""
        ran = {
            item.originalname
            for item in request.session.items
            if isinstance(item, pytest.Function) and item.module is request.module
        }
        defined = {name for name in dir(request.module) if name.startswith("test_")}
        if ran == defined:
            expected = {name for _, _, name in self.routes} | set(also)
            assert expected <= self.checked, f"response schemas no test checked: {sorted(expected - self.checked)}"


def served_by_run(main: ModuleType, monkeypatch: pytest.MonkeyPatch, port_variable: str, port: int) -> tuple[int, str]:
    """(port, sandbox name) that the console script's `main.run()` would serve with `port_variable` set."""
    served: dict[str, Any] = {}
    monkeypatch.setattr(main, "run_sandbox", lambda app, port: served.update(app=app, port=port))
    monkeypatch.setenv(port_variable, str(port))
    main.run()
    return served["port"], served["app"].name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def console_script_served(
    name: str, module: str, port_variable: str, **env: str
) -> AsyncIterator[httpx.AsyncClient]:
    """Start the `name` script of intplat-sandboxes (it must run `module`:run) on a free port, with `env` added; a
    client once healthy."""
    (script,) = entry_points(group="console_scripts", name=name)
    assert script.value == f"{module}:run"
    assert script.dist is not None
    assert script.dist.name == "intplat-sandboxes"
    port = free_port()
    process = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), name)],
        env={**os.environ, **env, port_variable: str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                try:
                    await http.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail(f"{name} did not start")
            yield http
    finally:
        process.terminate()
        process.wait(timeout=10)
