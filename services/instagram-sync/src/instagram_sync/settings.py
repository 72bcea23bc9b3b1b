"""instagram-sync settings: built once in `main` (or a test) and passed to the service kit."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from intplat_common import split_csv
from intplat_common.credentials import CredentialSettings

DEV_APP_SECRET = "meta-dev-app-secret"  # noqa: S105 - the sandbox's app secret, refused in production
DEV_VERIFY_TOKEN = "meta-dev-verify-token"  # noqa: S105 - the sandbox's webhook verify token, refused in production

Tier = Literal["hourly", "daily", "none"]
# The service's workers (`instagram-sync worker NAME`), all embedded in `serve` by default.
WORKERS = ("relay", "consumer", "scheduler", "upkeep", "publisher", "uptime")
DEFAULT_TIER_PLANS: dict[str, Tier] = {"instagram_pro_monthly": "hourly", "instagram_basic_monthly": "daily"}


class InstagramSyncSettings(CredentialSettings):
    service_name: str = "instagram-sync"
    port: int = Field(default=8004, validation_alias="INSTAGRAM_SYNC_PORT")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:55432/instagram_sync", validation_alias="INSTAGRAM_SYNC_DATABASE_URL"
    )
    consumer_group: str = Field(
        default="instagram-sync", min_length=1, validation_alias="INSTAGRAM_SYNC_CONSUMER_GROUP"
    )
    # The browser-facing base of this service: the OAuth redirect URI is `{public_url}/v1/instagram/callback`.
    public_url: str = Field(default="http://127.0.0.1:8004", validation_alias="INSTAGRAM_SYNC_PUBLIC_URL")

    # Meta: the Facebook Graph host (Facebook Login), and the hosts that default to it (the sandbox serves all of
    # them under one base; real Meta: graph.instagram.com, www.facebook.com, api.instagram.com).
    meta_graph_api_base: str = Field(default="http://127.0.0.1:8103", validation_alias="META_GRAPH_API_BASE")
    instagram_graph_api_base: str | None = Field(default=None, validation_alias="INSTAGRAM_GRAPH_API_BASE")
    facebook_dialog_base: str | None = Field(default=None, validation_alias="FACEBOOK_DIALOG_BASE")
    instagram_oauth_base: str | None = Field(default=None, validation_alias="INSTAGRAM_OAUTH_BASE")
    meta_app_id: str = Field(default="meta-dev-app", min_length=1, validation_alias="META_APP_ID")
    meta_app_secret: SecretStr = Field(default=SecretStr(DEV_APP_SECRET), validation_alias="META_APP_SECRET")
    # Facebook Login for Business: a configuration of the App Dashboard replaces the scope list when set.
    facebook_config_id: str | None = Field(default=None, validation_alias="META_FACEBOOK_CONFIG_ID")
    # Stored with every snapshot; each version lives about two years (reference A2).
    graph_api_version: str = Field(default="v23.0", pattern=r"^v\d+\.0$", validation_alias="META_GRAPH_API_VERSION")
    graph_timeout_seconds: float = Field(default=20.0, gt=0, le=120, validation_alias="META_GRAPH_TIMEOUT_SECONDS")
    graph_max_attempts: int = Field(default=3, ge=1, le=10, validation_alias="META_GRAPH_MAX_ATTEMPTS")
    graph_backoff_base_seconds: float = Field(default=1.0, gt=0, validation_alias="META_GRAPH_BACKOFF_BASE_SECONDS")
    graph_breaker_fail_max: int = Field(default=5, ge=1, validation_alias="META_GRAPH_BREAKER_FAIL_MAX")
    graph_breaker_reset_seconds: float = Field(default=60.0, gt=0, validation_alias="META_GRAPH_BREAKER_RESET_SECONDS")
    # Business Use Case budget: at this share of any usage figure an account (or the app) pauses.
    usage_ceiling_percent: float = Field(default=80.0, gt=0, le=100, validation_alias="INSTAGRAM_SYNC_USAGE_CEILING")
    # How long an account (or the app) pauses at the ceiling; Meta's window is rolling, so usage falls over time.
    usage_pause_seconds: float = Field(default=600.0, gt=0, validation_alias="INSTAGRAM_SYNC_USAGE_PAUSE_SECONDS")
    media_page_size: int = Field(default=50, ge=1, le=100, validation_alias="INSTAGRAM_SYNC_MEDIA_PAGE_SIZE")
    media_max_pages: int = Field(default=20, ge=1, validation_alias="INSTAGRAM_SYNC_MEDIA_MAX_PAGES")
    # Per API version in configuration: a metric Meta removes is a logged gap until this list drops it.
    account_metrics: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["views", "reach", "total_interactions", "accounts_engaged"],
        validation_alias="INSTAGRAM_SYNC_ACCOUNT_METRICS",
    )

    # Tiers: Stripe price lookup key -> cadence; a plan not listed (or a cancelled/unpaid subscription) syncs nothing.
    tier_plans: Annotated[dict[str, Tier], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_TIER_PLANS),
        validation_alias="INSTAGRAM_SYNC_TIER_PLANS",
    )
    # How long a connect link from `POST /v1/instagram/connect-links` opens the flow (the portal redirects at once).
    connect_link_seconds: int = Field(
        default=300, ge=10, le=3600, validation_alias="INSTAGRAM_SYNC_CONNECT_LINK_SECONDS"
    )
    scheduler_poll_seconds: float = Field(default=5.0, gt=0, validation_alias="INSTAGRAM_SYNC_SCHEDULER_POLL_SECONDS")
    # The period length of each tier in seconds (tests shorten them).
    hourly_period_seconds: int = Field(default=3600, ge=1, validation_alias="INSTAGRAM_SYNC_HOURLY_PERIOD_SECONDS")
    daily_period_seconds: int = Field(default=86400, ge=1, validation_alias="INSTAGRAM_SYNC_DAILY_PERIOD_SECONDS")

    # Tokens: Instagram Login tokens are refreshed when this old (Meta: at least 24 h, valid 60 days).
    refresh_after_hours: float = Field(
        default=7 * 24, ge=24, le=30 * 24, validation_alias="INSTAGRAM_SYNC_REFRESH_AFTER_HOURS"
    )
    # Facebook Login tokens cannot be refreshed server-side: the client is reminded this many days before expiry.
    reminder_days: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [14, 7, 1], validation_alias="INSTAGRAM_SYNC_REMINDER_DAYS"
    )
    upkeep_poll_seconds: float = Field(default=300.0, gt=0, validation_alias="INSTAGRAM_SYNC_UPKEEP_POLL_SECONDS")

    webhook_verify_token: SecretStr = Field(
        default=SecretStr(DEV_VERIFY_TOKEN), validation_alias="INSTAGRAM_SYNC_WEBHOOK_VERIFY_TOKEN"
    )
    webhook_max_body_bytes: int = Field(
        default=65_536, ge=1024, validation_alias="INSTAGRAM_SYNC_WEBHOOK_MAX_BODY_BYTES"
    )

    # Content publishing (the connect flow then asks for the publish permission too): container status reads back
    # off from the first to the longest pause; a full publishing limit is read again after
    # `publish_limit_wait_seconds`; posts are scheduled at most `post_horizon_days` ahead.
    content_publishing: bool = Field(default=False, validation_alias="INSTAGRAM_SYNC_CONTENT_PUBLISHING")
    container_poll_seconds: float = Field(default=5.0, gt=0, validation_alias="INSTAGRAM_SYNC_CONTAINER_POLL_SECONDS")
    container_poll_max_seconds: float = Field(
        default=300.0, gt=0, validation_alias="INSTAGRAM_SYNC_CONTAINER_POLL_MAX_SECONDS"
    )
    publish_limit_wait_seconds: float = Field(
        default=900.0, gt=0, validation_alias="INSTAGRAM_SYNC_PUBLISH_LIMIT_WAIT_SECONDS"
    )
    post_horizon_days: int = Field(default=75, ge=1, le=365, validation_alias="INSTAGRAM_SYNC_POST_HORIZON_DAYS")
    # Which workers `serve` runs in its process: names of WORKERS, or `none` (an empty value means the default).
    embedded_workers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(WORKERS), validation_alias="INSTAGRAM_SYNC_EMBEDDED_WORKERS"
    )

    @field_validator("account_metrics", "embedded_workers", mode="before")
    @classmethod
    def _csv_lists(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("embedded_workers")
    @classmethod
    def _known_workers(cls, value: list[str]) -> list[str]:
        # A misspelt name would otherwise leave its worker running nowhere, silently.
        if value == ["none"]:
            return []
        unknown = sorted(set(value) - set(WORKERS))
        if unknown:
            raise ValueError(f"unknown workers {unknown}: the workers are {', '.join(WORKERS)} (or `none`)")
        return value

    @field_validator("reminder_days", mode="before")
    @classmethod
    def _days(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("reminder_days")
    @classmethod
    def _positive_days(cls, value: list[int]) -> list[int]:
        if any(day < 1 for day in value):
            raise ValueError("reminder days must be at least 1")
        return sorted(set(value), reverse=True)

    @field_validator("tier_plans", mode="before")
    @classmethod
    def _plans(cls, value: object) -> object:
        """`lookup_key:tier,lookup_key:tier` from the environment."""
        if not isinstance(value, str):
            return value
        pairs = [entry.split(":", 1) for entry in value.split(",") if entry.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("INSTAGRAM_SYNC_TIER_PLANS entries are lookup_key:tier")
        return {key.strip(): tier.strip() for key, tier in pairs}

    @model_validator(mode="after")
    def _real_values_in_production(self) -> InstagramSyncSettings:
        if self.environment == "production":
            if self.meta_app_secret.get_secret_value() in ("", DEV_APP_SECRET):
                raise ValueError("META_APP_SECRET is the development placeholder; set the app secret")
            if self.webhook_verify_token.get_secret_value() in ("", DEV_VERIFY_TOKEN):
                raise ValueError("INSTAGRAM_SYNC_WEBHOOK_VERIFY_TOKEN is the development placeholder")
            if not self.public_url.startswith("https://"):
                raise ValueError("INSTAGRAM_SYNC_PUBLIC_URL must be https in production (Meta's redirect URI)")
        return self

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url.rstrip('/')}/v1/instagram/callback"

    @property
    def instagram_graph_base(self) -> str:
        return self.instagram_graph_api_base or self.meta_graph_api_base

    def period_seconds(self, tier: Tier) -> int | None:
        return {"hourly": self.hourly_period_seconds, "daily": self.daily_period_seconds}.get(tier)
