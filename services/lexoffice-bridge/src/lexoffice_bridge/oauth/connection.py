"""Partner mode's parts, built once per process: the flow (Authlib through the resilient client), the state signer,
the token store and the client's `OAuthAuthorization`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from intplat_common.credentials import OAuth2Flow, OAuthStateSigner

from ..access import credential_digest
from .authorization import OAuthAuthorization
from .settings import LexofficeOAuthSettings
from .store import TokenStore


def oauth_credential_id(settings: LexofficeOAuthSettings) -> str:
    """Partner mode's credential is the client: the rate-limit bucket and a revocation are keyed by it."""
    return credential_digest(f"oauth:{settings.lexoffice_oauth_client_id}")


@dataclass
class LexofficeOAuth:
    flow: OAuth2Flow
    signer: OAuthStateSigner
    store: TokenStore
    authorization: OAuthAuthorization
    credential: str

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
        return cls(flow, OAuthStateSigner(cipher), store, authorization, oauth_credential_id(settings))

    async def aclose(self) -> None:
        await self.flow.aclose()


def partner_mode(settings: LexofficeOAuthSettings, pool: asyncpg.Pool) -> LexofficeOAuth | None:
    """The OAuth parts in partner mode; None with an API key."""
    return LexofficeOAuth.build(settings, pool) if settings.lexoffice_auth_mode == "oauth" else None
