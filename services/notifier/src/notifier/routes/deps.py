"""The notifier's route dependencies as `Annotated` aliases; the pool and the API key check are the kit's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from intplat_common.service import ApiKey, Pool

from ..settings import NotifierSettings


async def _settings(request: Request) -> NotifierSettings:
    settings: NotifierSettings = request.app.state.settings
    return settings


Settings = Annotated[NotifierSettings, Depends(_settings)]

__all__ = ["ApiKey", "Pool", "Settings"]
