"""A provider sandbox's factory: build the sandbox, then mount the routers that read it (they import the sandbox
class, so the class cannot mount them itself without an import cycle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, Protocol, TypeVar

from fastapi import APIRouter

from ._app import SandboxApp


class _Sandbox(Protocol):
    @property
    def app(self) -> SandboxApp: ...


P = ParamSpec("P")
S = TypeVar("S", bound=_Sandbox)


def sandbox_factory(build: Callable[P, S], *routers: Callable[[S], APIRouter]) -> Callable[P, S]:
    """`build`'s own parameters, and the sandbox it returns with `routers` mounted on its app."""

    def create(*args: P.args, **kwargs: P.kwargs) -> S:
        sandbox = build(*args, **kwargs)
        for router in routers:
            sandbox.app.include_router(router(sandbox))
        return sandbox

    create.__doc__ = build.__doc__
    return create
