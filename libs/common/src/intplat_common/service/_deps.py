"""Dependencies every service's routes share, as `Annotated` aliases (reference: full-stack-fastapi-template deps).

All `async def`: FastAPI runs a plain `def` dependency in a thread pool, a thread hop per request.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Header, HTTPException, Request

from .._settings import ServiceSettings
from .._web import api_key_matches


async def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


async def _settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


Pool = Annotated[asyncpg.Pool, Depends(_pool)]


async def require_api_key(
    settings: Annotated[ServiceSettings, Depends(_settings)],
    x_internal_api_key: Annotated[str | None, Header(description="one of INTERNAL_API_KEYS")] = None,
) -> None:
    if not api_key_matches(x_internal_api_key, settings.internal_api_keys):
        raise HTTPException(status_code=401, detail="missing or invalid X-Internal-Api-Key")


ApiKey = Depends(require_api_key)
