"""Fast paths: plain ASGI endpoints that reach a request ahead of the app's middleware stack.

For the one route a provider hits at volume (Stripe's webhook), FastAPI's request object, dependency resolution and
middleware cost more CPU per request than the endpoint's own work. Such an endpoint makes its own span, correlation
id and error answers. It is built in the lifespan with the service's components (its writer, say), so it never
exists half-configured; other methods on its path still get the app's JSON 405, and its OpenAPI entry is merged into
the generated document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._web import problem

C = TypeVar("C")


@dataclass(frozen=True)
class FastPath(Generic[C]):
    path: str
    method: str
    build: Callable[[C], ASGIApp]
    openapi: Mapping[str, Any]


class FastPathDispatch:
    """The outermost ASGI layer of an app with fast paths; the endpoints are set when the lifespan has built them."""

    def __init__(self, paths: Sequence[FastPath[Any]]) -> None:
        self._paths = {(p.path, p.method): p for p in paths}
        self._endpoints: dict[tuple[str, str], ASGIApp] = {}

    def start(self, components: object) -> None:
        # In place: the routes' endpoints read this same mapping.
        self._endpoints.update({key: path.build(components) for key, path in self._paths.items()})

    def stop(self) -> None:
        self._endpoints.clear()

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self._paths]

    def install(self, app: FastAPI) -> None:
        """The routes and their OpenAPI entries; `wrap_outermost` once every other layer is installed."""
        for path in self._paths.values():
            # The route is what the router matches for the other methods (405 with Allow); its own method never
            # reaches the router while the app runs.
            app.router.routes.insert(0, Route(path.path, self._endpoint_for(path), methods=[path.method]))
        self._document(app)

    def _endpoint_for(self, path: FastPath[Any]) -> ASGIApp:
        return _Endpoint(self._endpoints, (path.path, path.method))

    def wrap_outermost(self, app: FastAPI) -> None:
        """After the instrumentation (which wraps `build_middleware_stack` too): the fast paths come first."""
        if not self._paths:
            return
        # Wrapping `build_middleware_stack` keeps the app a FastAPI app (lifespan, state, tests) with this outermost.
        build = app.build_middleware_stack

        def build_with_dispatch() -> ASGIApp:
            stack = build()

            async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
                if scope["type"] == "http":
                    endpoint = self._endpoints.get((scope["path"], scope["method"]))
                    if endpoint is not None:
                        await endpoint(scope, receive, send)
                        return
                await stack(scope, receive, send)

            return dispatch

        app.build_middleware_stack = build_with_dispatch  # type: ignore[method-assign]

    def _document(self, app: FastAPI) -> None:
        generate = app.openapi

        def openapi() -> dict[str, Any]:
            schema = generate()
            for path in self._paths.values():
                schema["paths"].setdefault(path.path, {}).update(path.openapi)
            return schema

        app.openapi = openapi  # type: ignore[method-assign]


class _Endpoint:
    """The route's ASGI app (a class: Starlette would treat a plain function as a request -> response endpoint)."""

    def __init__(self, endpoints: Mapping[tuple[str, str], ASGIApp], key: tuple[str, str]) -> None:
        self._endpoints = endpoints
        self._key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only reached before the lifespan built the endpoint (or after it ended).
        answer = problem(503, "unavailable", "the service is starting or stopping; retry later")
        await self._endpoints.get(self._key, answer)(scope, receive, send)
