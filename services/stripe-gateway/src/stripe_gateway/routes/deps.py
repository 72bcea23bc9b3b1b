"""The gateway's route dependencies as `Annotated` aliases; the pool and the API key check are the kit's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from intplat_common.service import ApiKey, Pool

from ..adapters.stripe_api import StripeApi
from ..settings import GatewaySettings


async def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


async def _stripe(request: Request) -> StripeApi:
    api: StripeApi = request.app.state.stripe
    return api


Settings = Annotated[GatewaySettings, Depends(_settings)]
Stripe = Annotated[StripeApi, Depends(_stripe)]

__all__ = ["ApiKey", "Pool", "Settings", "Stripe"]
