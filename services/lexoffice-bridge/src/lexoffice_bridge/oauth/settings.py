"""The settings of Lexoffice's partner (OAuth2) mode; `LexofficeBridgeSettings` inherits them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from intplat_common.credentials import CredentialSettings, OAuth2ClientConfig

DEV_CLIENT_ID = "lexoffice-dev-client"  # the sandbox's development client, refused in production
OAUTH_CLIENT_NAME = "lexoffice-oauth"  # its breaker and metrics, apart from the API client's ("lexoffice")


class LexofficeOAuthSettings(CredentialSettings):
    # `api_key` (default): LEXOFFICE_API_KEY as Bearer. `oauth`: a partner app; an operator connects the organisation
    # once at /v1/lexoffice/connect and the bridge sends the stored, refreshed access token.
    lexoffice_auth_mode: Literal["api_key", "oauth"] = Field(default="api_key", validation_alias="LEXOFFICE_AUTH_MODE")
    lexoffice_oauth_client_id: str = Field(default=DEV_CLIENT_ID, validation_alias="LEXOFFICE_OAUTH_CLIENT_ID")
    lexoffice_oauth_client_secret: SecretStr = Field(
        default=SecretStr("lexoffice-dev-client-secret"), validation_alias="LEXOFFICE_OAUTH_CLIENT_SECRET"
    )
    # Real: https://app.lexoffice.de/api/oauth2/authorize and …/token (reference §1); `make run`: the sandbox's.
    lexoffice_oauth_authorization_url: str = Field(
        default="http://127.0.0.1:8101/api/oauth2/authorize", validation_alias="LEXOFFICE_OAUTH_AUTHORIZATION_URL"
    )
    lexoffice_oauth_token_url: str = Field(
        default="http://127.0.0.1:8101/api/oauth2/token", validation_alias="LEXOFFICE_OAUTH_TOKEN_URL"
    )
    # Where Lexoffice sends the operator's browser back: this service's /v1/lexoffice/callback as seen from outside.
    lexoffice_oauth_redirect_uri: str = Field(
        default="http://127.0.0.1:8002/v1/lexoffice/callback", validation_alias="LEXOFFICE_OAUTH_REDIRECT_URI"
    )
    # A token is refreshed this long before it expires, by the first process that needs it then.
    lexoffice_oauth_refresh_margin_seconds: float = Field(
        default=300.0, ge=0, validation_alias="LEXOFFICE_OAUTH_REFRESH_MARGIN_SECONDS"
    )
    # After a failed refresh no process tries again for this long, doubled per further failure up to the maximum:
    # Lexoffice's authorization server blocks clients that keep trying, in the end for good.
    lexoffice_oauth_refresh_backoff_seconds: float = Field(
        default=30.0, gt=0, validation_alias="LEXOFFICE_OAUTH_REFRESH_BACKOFF_SECONDS"
    )
    lexoffice_oauth_refresh_backoff_max_seconds: float = Field(
        default=1800.0, gt=0, validation_alias="LEXOFFICE_OAUTH_REFRESH_BACKOFF_MAX_SECONDS"
    )
    lexoffice_oauth_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, validation_alias="LEXOFFICE_OAUTH_TIMEOUT_SECONDS"
    )

    @model_validator(mode="after")
    def _partner_mode_complete(self) -> LexofficeOAuthSettings:
        if self.lexoffice_auth_mode != "oauth":
            return self
        if not self.credentials_encryption_keys:
            raise ValueError("LEXOFFICE_AUTH_MODE=oauth stores tokens encrypted: set CREDENTIALS_ENCRYPTION_KEYS")
        if self.environment == "production":
            if self.lexoffice_oauth_client_id == DEV_CLIENT_ID:
                raise ValueError("LEXOFFICE_OAUTH_CLIENT_ID is the development client; set the partner app's")
            if not self.lexoffice_oauth_redirect_uri.startswith("https://"):
                raise ValueError("LEXOFFICE_OAUTH_REDIRECT_URI must be https in production")
        return self

    def lexoffice_oauth_client(self) -> OAuth2ClientConfig:
        return OAuth2ClientConfig(
            name=OAUTH_CLIENT_NAME,
            client_id=self.lexoffice_oauth_client_id,
            client_secret=self.lexoffice_oauth_client_secret,
            authorization_endpoint=self.lexoffice_oauth_authorization_url,
            token_endpoint=self.lexoffice_oauth_token_url,
            redirect_uri=self.lexoffice_oauth_redirect_uri,
            timeout=self.lexoffice_oauth_timeout_seconds,
        )
