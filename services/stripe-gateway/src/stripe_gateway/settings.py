"""stripe-gateway settings: built once in `main` and passed to `create_app`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from intplat_common import ServiceSettings, split_csv


class GatewaySettings(ServiceSettings):
    service_name: str = "stripe-gateway"
    port: int = Field(default=8001, validation_alias="STRIPE_GATEWAY_PORT")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:55432/stripe_gateway",
        validation_alias="STRIPE_GATEWAY_DATABASE_URL",
    )
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias="STRIPE_WEBHOOK_SECRETS"
    )
    stripe_api_key: SecretStr = Field(default=SecretStr("sk_test_123"), validation_alias="STRIPE_API_KEY")
    stripe_api_base: str = Field(default="http://localhost:12111", validation_alias="STRIPE_API_BASE")

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _csv_secrets(cls, value: object) -> object:
        return split_csv(value)
