"""Connecting the organisation in partner mode (an operator, once): `GET /v1/lexoffice/connect` sends the browser to
Lexoffice's authorization endpoint with a signed, single-use `state`; `GET /v1/lexoffice/callback` checks the state,
exchanges the code (once: codes are single-use) and stores the tokens encrypted. 404 in API-key mode."""

from __future__ import annotations

from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from intplat_common import CircuitOpenError, ProviderError
from intplat_common.credentials import InvalidOAuthState, OAuthGrantError
from intplat_common.service import ApiKey, Pool

from ..access import clear_revocation
from .connection import LexofficeOAuth
from .store import SUBJECT

router = APIRouter(prefix="/v1/lexoffice", tags=["lexoffice-oauth"])


class Connected(BaseModel):
    status: Literal["connected"]


async def _oauth(request: Request) -> LexofficeOAuth:
    oauth: LexofficeOAuth | None = request.app.state.oauth
    if oauth is None:
        raise HTTPException(status_code=404, detail="the bridge uses an API key (LEXOFFICE_AUTH_MODE=api_key)")
    return oauth


OAuth = Annotated[LexofficeOAuth, Depends(_oauth)]


@router.get(
    "/connect",
    dependencies=[ApiKey],
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "to Lexoffice's authorization endpoint"}, 404: {"description": "API-key mode"}},
)
async def connect(oauth: OAuth) -> RedirectResponse:
    """For an operator (X-Internal-Api-Key): open the `Location` in a browser logged in to the organisation."""
    state = oauth.signer.issue(SUBJECT)
    return RedirectResponse(oauth.flow.authorization_url(state.value), status_code=302)


@router.get(
    "/callback",
    response_model=Connected,
    responses={
        400: {"description": "refused at Lexoffice, or a state that is invalid, expired or used, or a bad code"},
        404: {"description": "API-key mode"},
        502: {"description": "Lexoffice's authorization server did not answer; connect again later"},
    },
)
async def callback(
    oauth: OAuth,
    pool: Pool,
    code: Annotated[str | None, Query()] = None,
    state: Annotated[str | None, Query()] = None,
    error: Annotated[str | None, Query()] = None,
) -> Connected:
    if error is not None:
        raise HTTPException(status_code=400, detail=f"Lexoffice did not grant access: {error}")
    if not code or not state:
        raise HTTPException(status_code=400, detail="code and state are required")
    try:
        nonce = oauth.signer.verify(state, SUBJECT)
    except InvalidOAuthState as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    if not await _first_use(pool, nonce):
        raise HTTPException(status_code=400, detail="state already used; connect again")
    try:
        tokens = await oauth.flow.exchange_code(code)
    except OAuthGrantError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    except (ProviderError, CircuitOpenError) as exc:
        raise HTTPException(status_code=502, detail=str(exc)) from None
    await oauth.store.connect(tokens)
    # A `token.revoked` of the earlier grant stopped every call (access.py); this grant is new.
    await clear_revocation(pool, oauth.credential)
    return Connected(status="connected")


async def _first_use(pool: asyncpg.Pool, nonce: str) -> bool:
    """Records the state's nonce; False when it was recorded before (a replayed callback)."""
    async with pool.acquire() as conn, conn.transaction():
        # States live 10 minutes: older nonces can never match a valid state again.
        await conn.execute("DELETE FROM lexoffice_oauth_states WHERE used_at < now() - interval '1 day'")
        inserted = await conn.fetchval(
            "INSERT INTO lexoffice_oauth_states (nonce) VALUES ($1) ON CONFLICT DO NOTHING RETURNING true", nonce
        )
    return bool(inserted)
