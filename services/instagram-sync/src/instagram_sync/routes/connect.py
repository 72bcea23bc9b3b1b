"""`POST /v1/instagram/connect-links` (API key: the client portal's backend, for its logged-in client),
`GET /v1/instagram/connect?ref=` (the client's browser starts there) and `GET /v1/instagram/callback` (Meta sends it
back); disconnecting and the connection status are internal (API key)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Cookie, HTTPException, Query
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict

from intplat_common.service import ApiKey

from ..connect import BINDING_COOKIE, ConnectError
from ..graph.ports import Login
from ..schedule import schedule_of
from .deps import ConnectionStore, Flow, Links, Settings

router = APIRouter(tags=["connect"])
COOKIE_PATH = "/v1/instagram"
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "bad, expired or reused state or connect link; a declined permission; no Instagram account on"
        " the Page"
    },
    502: {"description": "Meta did not answer as expected (the user starts again)"},
}


def _refused(error: ConnectError) -> JSONResponse:
    answer = JSONResponse({"error": error.code, "detail": str(error)}, status_code=error.status)
    answer.delete_cookie(BINDING_COOKIE, path=COOKIE_PATH)
    return answer


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str
    """The client (Stripe customer id) logged in to the portal."""
    login: Login = "facebook"


@router.post("/v1/instagram/connect-links", dependencies=[ApiKey], status_code=201, responses=REFUSALS)
async def connect_link(request: LinkRequest, links: Links, settings: Settings) -> Response:
    """A short-lived link that starts the connect flow for this client; the portal sends the browser there."""
    try:
        link = links.issue(request.login, request.customer_id)
    except ConnectError as exc:
        return _refused(exc)
    url = f"{settings.public_url.rstrip('/')}/v1/instagram/connect?{urlencode({'ref': link.ref})}"
    return JSONResponse({"url": url, "expires_at": link.expires_at.isoformat()}, status_code=201)


@router.get("/v1/instagram/connect", response_class=RedirectResponse, status_code=302, responses=REFUSALS)
async def connect(
    flow: Flow,
    links: Links,
    settings: Settings,
    ref: Annotated[str | None, Query(description="from POST /v1/instagram/connect-links")] = None,
) -> Response:
    try:
        started = flow.start(*links.open(ref))
    except ConnectError as exc:
        return _refused(exc)
    answer = RedirectResponse(started.url, status_code=302)
    answer.set_cookie(
        BINDING_COOKIE,
        started.binding.cookie(),
        max_age=600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",  # sent on Meta's top-level redirect back to the callback
        secure=settings.public_url.startswith("https://"),
    )
    return answer


@router.get("/v1/instagram/callback", responses=REFUSALS)
async def callback(
    flow: Flow,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    ig_connect: Annotated[str | None, Cookie(alias=BINDING_COOKIE)] = None,
) -> Response:
    try:
        accounts = await flow.finish(ig_connect, state=state, code=code, error=error)
    except ConnectError as exc:
        return _refused(exc)
    answer = JSONResponse({"connected": accounts})
    answer.delete_cookie(BINDING_COOKIE, path=COOKIE_PATH)
    return answer


NOT_CONNECTED: dict[int | str, dict[str, Any]] = {404: {"description": "no such connected account"}}


@router.delete("/v1/accounts/{account_id}/connection", dependencies=[ApiKey], status_code=204, responses=NOT_CONNECTED)
async def disconnect(account_id: str, connections: ConnectionStore) -> Response:
    if not await connections.disconnect(account_id):
        raise HTTPException(404, "no such connected account")
    return Response(status_code=204)


@router.get("/v1/accounts/{account_id}/connection", dependencies=[ApiKey], responses=NOT_CONNECTED)
async def connection_status(account_id: str, connections: ConnectionStore) -> dict[str, Any]:
    connection = await connections.get(account_id)
    if connection is None:
        raise HTTPException(404, "no such connected account")
    return {
        "account_id": connection.account_id,
        "customer_id": connection.customer_id,
        "login": connection.login,
        "username": connection.username,
        "status": connection.status.value,
        "status_reason": connection.status_reason,
        "expires_at": connection.expires_at,
        "schedule": await schedule_of(connections.pool, account_id),
    }
