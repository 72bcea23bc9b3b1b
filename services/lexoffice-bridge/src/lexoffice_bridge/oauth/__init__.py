"""Lexoffice partner mode (OAuth2 authorization code + refresh) behind the same client; see docs/lexoffice-bridge.md,
"Partner mode (OAuth)"."""

from .authorization import NotConnected, OAuthAuthorization
from .connection import LexofficeOAuth, oauth_credential_id, partner_mode
from .routes import router
from .settings import LexofficeOAuthSettings
from .store import PROVIDER, SUBJECT, TokenStore, mark_needs_reconnect

__all__ = [
    "PROVIDER",
    "SUBJECT",
    "LexofficeOAuth",
    "LexofficeOAuthSettings",
    "NotConnected",
    "OAuthAuthorization",
    "TokenStore",
    "mark_needs_reconnect",
    "oauth_credential_id",
    "partner_mode",
    "router",
]
