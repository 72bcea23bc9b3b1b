"""What every Graph API request goes through: the optional `/vNN.0/` prefix (only accepted versions), the Graph
error envelope for every failure (routing ones included), and the usage headers on every answer."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import GraphError
from ._sandbox import MetaSandbox

_VERSION = re.compile(r"^/(v(\d+)\.(\d+))(/.*|$)")
CONTROL_PREFIX = "/_sandbox"
STATE_VERSION = "graph_version"
STATE_ACCOUNT = "usage_account"
STATE_METERED = "usage_metered"


def graph_version(request: Request) -> int | None:
    """The major version of the request's `/vNN.0/` prefix; None without one (the app's default version)."""
    version: int | None = request.scope.get("state", {}).get(STATE_VERSION)
    return version


def metered(request: Request, account_id: str | None) -> None:
    """Mark the request as a Graph call: its answer carries the usage headers (of `account_id` if given)."""
    state = request.scope.setdefault("state", {})
    state[STATE_METERED] = True
    state[STATE_ACCOUNT] = account_id


class GraphLayer:
    """Pure ASGI middleware inside the sandbox app (faults and the request log see the original path)."""

    def __init__(self, app: ASGIApp, meta: MetaSandbox) -> None:
        self._app = app
        self._meta = meta

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX) or scope["path"] == "/healthz":
            await self._app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        match = _VERSION.match(scope["path"])
        if match is not None:
            version = served_version(match.group(1), self._meta.versions)
            if version is None:
                error = GraphError(f"Unknown path components: /{match.group(1)}", 2500)
                await _send_error(send, error)
                return
            rest = match.group(4) or "/"
            scope = {**scope, "path": rest, "raw_path": rest.encode()}
            state[STATE_VERSION] = _version_key(version)[0]

        async def with_usage(message: Message) -> None:
            if message["type"] == "http.response.start" and state.get(STATE_METERED):
                headers = self._meta.budgets.headers(self._meta.now(), state.get(STATE_ACCOUNT))
                extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self._app(scope, receive, with_usage)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version[1:].split("."))


def served_version(requested: str, accepted: tuple[str, ...]) -> str | None:
    """The version that answers: the requested one if usable; for one no longer usable, the next oldest usable
    version (Meta's versioning guide); None for one newer than every usable version (unknown path, 2500)."""
    if requested in accepted:
        return requested
    newer = [version for version in accepted if _version_key(version) > _version_key(requested)]
    return min(newer, key=_version_key) if newer else None


async def _send_error(send: Send, error: GraphError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_graph_layer(meta: MetaSandbox) -> None:
    """Graph errors as Meta's envelope; an unknown path or method on the Graph side is code 2500, as at Meta."""
    api: FastAPI = meta.app.api
    api.add_middleware(GraphLayer, meta=meta)

    async def render(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StarletteHTTPException):
            if request.url.path.startswith(CONTROL_PREFIX):
                return await http_exception_handler(request, exc)
            exc = GraphError(f"Unknown path components: {request.url.path}", 2500)
        assert isinstance(exc, GraphError)
        return JSONResponse(exc.body(), status_code=exc.status)

    api.add_exception_handler(GraphError, render)
    api.add_exception_handler(StarletteHTTPException, render)
