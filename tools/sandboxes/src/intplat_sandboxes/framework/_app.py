"""`SandboxApp`: a FastAPI app for provider routes, wrapped by the fault/log layer."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from starlette.types import Receive, Scope, Send

from ._asgi import handle_provider_request
from ._background import lifespan_of
from ._clock import SandboxClock
from ._control import CONTROL_PREFIX, control_router
from ._faults import FaultStore
from ._log import RequestLog

ResetHook = TypeVar("ResetHook", bound=Callable[[], object])


class SandboxApp:
    """ASGI app imitating one provider. Serve this object, not `.api`, or faults cannot drop
    connections and nothing gets logged."""

    def __init__(
        self,
        name: str,
        *,
        clock: SandboxClock | None = None,
        rng: random.Random | None = None,
        log_capacity: int = 1000,
    ) -> None:
        self.name = name
        self.clock = clock or SandboxClock()
        self.faults = FaultStore(rng)
        self.requests = RequestLog(log_capacity)
        self._reset_hooks: list[Callable[[], object]] = []
        self.api = FastAPI(
            title=f"{name} sandbox",
            openapi_url=f"{CONTROL_PREFIX}/openapi.json",
            docs_url=f"{CONTROL_PREFIX}/docs",
            redoc_url=None,
        )
        self.api.state.sandbox = self
        self.api.include_router(
            control_router(requests=self.requests, faults=self.faults, clock=self.clock, reset_all=self.reset)
        )
        self.api.add_api_route("/healthz", self._healthz, methods=["GET"], tags=["sandbox"])

    async def _healthz(self) -> dict[str, str]:
        return {"status": "ok", "sandbox": self.name}

    def include_router(self, router: APIRouter, **kwargs: Any) -> None:
        self.api.include_router(router, **kwargs)

    def while_served(self, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
        """Background work (the provider's webhooks or callbacks) that runs while the app is served."""
        self.api.router.lifespan_context = lifespan_of(start, stop)

    def on_reset(self, hook: ResetHook) -> ResetHook:
        """Register a hook (usable as a decorator) that clears provider state on reset."""
        self._reset_hooks.append(hook)
        return hook

    def reset(self) -> None:
        self.requests.clear()
        self.faults.clear()
        self.clock.reset()
        for hook in self._reset_hooks:
            hook()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_unobserved(scope["path"]):
            await self.api(scope, receive, send)
            return
        await handle_provider_request(
            self.api,
            scope,
            receive,
            send,
            faults=self.faults,
            log=self.requests,
            clock=self.clock,
        )


def _is_unobserved(path: str) -> bool:
    """Control routes and the health probe are never faulted or logged."""
    return path in (CONTROL_PREFIX, "/healthz") or path.startswith(f"{CONTROL_PREFIX}/")


def create_sandbox_app(name: str, *, clock: SandboxClock | None = None, rng: random.Random | None = None) -> SandboxApp:
    return SandboxApp(name, clock=clock, rng=rng)


def get_sandbox(request: Request) -> SandboxApp:
    """FastAPI dependency giving provider routes their sandbox (clock, state hooks)."""
    sandbox = request.app.state.sandbox
    assert isinstance(sandbox, SandboxApp)
    return sandbox
