"""stripe-gateway settings: built once in `main` and passed to `create_app`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from intplat_common import ServiceSettings, split_csv


class GatewaySettings(ServiceSettings):
    service_name: str = "stripe-gateway"
    port: int = Field(default=8001, validation_alias="STRIPE_GATEWAY_PORT")
    workers: int = Field(default=1, ge=1, validation_alias="STRIPE_GATEWAY_WORKERS")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:55432/stripe_gateway", validation_alias="STRIPE_GATEWAY_DATABASE_URL"
    )
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias="STRIPE_WEBHOOK_SECRETS"
    )
    webhook_tolerance_seconds: int = Field(default=300, ge=1, validation_alias="STRIPE_WEBHOOK_TOLERANCE_SECONDS")
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024, validation_alias="STRIPE_WEBHOOK_MAX_BODY_BYTES")
    webhook_ip_allowlist: bool = Field(default=False, validation_alias="STRIPE_WEBHOOK_IP_ALLOWLIST")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias="TRUSTED_PROXIES")
    stripe_api_key: SecretStr = Field(default=SecretStr("sk_test_123"), validation_alias="STRIPE_API_KEY")
    stripe_api_base: str = Field(default="http://localhost:12111", validation_alias="STRIPE_API_BASE")
    stripe_tax_enabled: bool = Field(default=False, validation_alias="STRIPE_TAX_ENABLED")
    writer_max_batch: int = Field(default=256, ge=1, validation_alias="STRIPE_GATEWAY_WRITER_MAX_BATCH")
    writer_tasks: int = Field(default=1, ge=1, validation_alias="STRIPE_GATEWAY_WRITER_TASKS")
    # true: the HTTP process also runs the outbox relay; false: run `stripe-gateway relay` as its own process.
    embedded_relay: bool = Field(default=True, validation_alias="STRIPE_GATEWAY_EMBEDDED_RELAY")

    @field_validator("webhook_secrets", "trusted_proxies", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)
