"""Dependencies shared by the routes, as `Annotated` aliases.

All `async def`: FastAPI runs a plain `def` dependency in a thread pool, a thread hop per request.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Header, HTTPException, Request

from intplat_common import api_key_matches

from ..adapters.stripe_api import StripeApi
from ..settings import GatewaySettings
from ..storage.webhook_events import WebhookWriter


async def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


async def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


async def _writer(request: Request) -> WebhookWriter:
    writer: WebhookWriter = request.app.state.writer
    return writer


async def _stripe(request: Request) -> StripeApi:
    api: StripeApi = request.app.state.stripe
    return api


Settings = Annotated[GatewaySettings, Depends(_settings)]
Pool = Annotated[asyncpg.Pool, Depends(_pool)]
Writer = Annotated[WebhookWriter, Depends(_writer)]
Stripe = Annotated[StripeApi, Depends(_stripe)]


async def require_api_key(
    settings: Settings,
    x_internal_api_key: Annotated[str | None, Header(description="one of INTERNAL_API_KEYS")] = None,
) -> None:
    if not api_key_matches(x_internal_api_key, settings.internal_api_keys):
        raise HTTPException(
            status_code=401,
            detail="missing or invalid X-Internal-Api-Key",
        )


ApiKey = Depends(require_api_key)
