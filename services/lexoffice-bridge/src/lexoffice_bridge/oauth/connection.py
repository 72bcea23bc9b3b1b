"""Partner mode's parts, built once per process: the flow (Authlib through the resilient client), the state signer,
the token store and the client's `OAuthAuthorization`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from intplat_common.credentials import OAuth2Flow, OAuthStateSigner

from .authorization import OAuthAuthorization
from .settings import LexofficeOAuthSettings
from .store import TokenStore


@dataclass
class LexofficeOAuth:
    flow: OAuth2Flow
    signer: OAuthStateSigner
    store: TokenStore
    authorization: OAuthAuthorization

    @classmethod
    def build(cls, settings: LexofficeOAuthSettings, pool: asyncpg.Pool) -> LexofficeOAuth:
        cipher = settings.credential_cipher()
        flow = OAuth2Flow(settings.lexoffice_oauth_client())
        store = TokenStore(pool, cipher)
        authorization = OAuthAuthorization(
            store,
            flow,
            refresh_margin=timedelta(seconds=settings.lexoffice_oauth_refresh_margin_seconds),
            backoff=timedelta(seconds=settings.lexoffice_oauth_refresh_backoff_seconds),
            backoff_max=timedelta(seconds=settings.lexoffice_oauth_refresh_backoff_max_seconds),
        )
        return cls(flow, OAuthStateSigner(cipher), store, authorization)

    async def aclose(self) -> None:
        await self.flow.aclose()


def partner_mode(settings: LexofficeOAuthSettings, pool: asyncpg.Pool) -> LexofficeOAuth | None:
    """The OAuth parts in partner mode; None with an API key."""
    return LexofficeOAuth.build(settings, pool) if settings.lexoffice_auth_mode == "oauth" else None
