"""The typed settings every service builds once at start-up and passes in (never a module-level global)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "changethis", "secret", "dev-internal-key"})


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ServiceSettings(BaseSettings):
    """Settings shared by every service; each service subclasses it and adds its own.

    Values come from the environment (names in INTERFACES.md); a variable set there always wins over the local
    defaults, so the same command runs against real providers.
    """

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True)

    # Each service sets these three with its own variables (STRIPE_GATEWAY_PORT, NOTIFIER_DATABASE_URL, ...).
    service_name: str = "service"
    port: int = 8000
    database_url: str = "postgresql://postgres@127.0.0.1:55432/postgres"
    environment: Literal["dev", "test", "production"] = Field(default="dev", validation_alias="INTPLAT_ENVIRONMENT")
    # Connections of this process's pool: every replica of every workload holds up to this many, so their sum must
    # stay under PostgreSQL's max_connections (docs/scaling.md, "Past one machine").
    database_pool_max_size: int = Field(default=20, ge=2, validation_alias="DATABASE_POOL_MAX_SIZE")
    kafka_bootstrap_servers: str = Field(default="localhost:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_replication_factor: int = Field(default=1, ge=1, validation_alias="KAFKA_REPLICATION_FACTOR")
    internal_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias="INTERNAL_API_KEYS"
    )
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    # A client that trickles its request body is cut off (408) after this long; at most this many connections are
    # served at once (more get 503), so slow clients cannot hold every connection.
    http_body_timeout_seconds: float = Field(default=10.0, gt=0, validation_alias="HTTP_BODY_TIMEOUT_SECONDS")
    http_max_connections: int = Field(default=1000, ge=1, validation_alias="HTTP_MAX_CONNECTIONS")
    host: str = "127.0.0.1"
    # A worker-only process (`<service> worker NAME`) serves /metrics on this port (on `host`); unset: none. The
    # HTTP process serves /metrics on its own port and ignores it.
    metrics_port: int | None = Field(default=None, ge=1, le=65535, validation_alias="METRICS_PORT")
    # Provider uptime probes (intplat_common.UptimeProber) in the process that owns the provider's calls. Unset: on,
    # except in tests (INTPLAT_ENVIRONMENT=test), whose scripted providers would be asked one more call.
    provider_probes: bool | None = Field(default=None, validation_alias="PROVIDER_PROBES")
    provider_probe_interval_seconds: float = Field(
        default=60.0, gt=0, validation_alias="PROVIDER_PROBE_INTERVAL_SECONDS"
    )

    @property
    def provider_probes_enabled(self) -> bool:
        return self.provider_probes if self.provider_probes is not None else self.environment != "test"

    @field_validator("internal_api_keys", mode="before")
    @classmethod
    def _csv_keys(cls, value: object) -> object:
        return _split_csv(value)

    @model_validator(mode="after")
    def _refuse_placeholders_outside_dev(self) -> ServiceSettings:
        if self.environment == "production":
            for key in self.internal_api_keys:
                if key.get_secret_value() in PLACEHOLDER_SECRETS:
                    raise ValueError("INTERNAL_API_KEYS holds a placeholder key; set real keys")
            if not self.internal_api_keys:
                raise ValueError("INTERNAL_API_KEYS must be set in production")
        return self


def split_csv(value: object) -> object:
    """For subclasses: `field_validator(..., mode="before")(split_csv)` on comma-separated variables."""
    return _split_csv(value)
