"""`/api/oauth2/*`: the authorization server's routes (see `_oauth`), outside `/v1` and its API rate limit."""

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse

from ._oauth import OAuthError
from ._sandbox import LexofficeSandbox

PREFIX = "/api/oauth2"


def oauth_router(lx: LexofficeSandbox) -> APIRouter:  # no __future__ annotations: FastAPI reads them
    router = APIRouter(prefix=PREFIX, tags=["lexoffice-oauth"])

    @router.get("/authorize", response_model=None)
    async def authorize(
        client_id: Annotated[str | None, Query()] = None,
        redirect_uri: Annotated[str | None, Query()] = None,
        response_type: Annotated[str | None, Query()] = None,
        state: Annotated[str | None, Query()] = None,
    ) -> RedirectResponse | JSONResponse:
        try:
            return RedirectResponse(lx.oauth.authorize(client_id, redirect_uri, response_type, state), status_code=302)
        except OAuthError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @router.post("/token")
    async def token(request: Request, authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        """An `application/x-www-form-urlencoded` body (read here: the sandbox has no multipart parser)."""
        form = dict(parse_qsl((await request.body()).decode(errors="replace")))
        try:
            answer = lx.oauth.token(authorization, form)
        except OAuthError as exc:
            headers = {"WWW-Authenticate": "Basic"} if exc.status == 401 else {}
            return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
        return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    return router
