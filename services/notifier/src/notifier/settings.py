"""notifier settings: built once in `main` (or a test) and passed to `create_app`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from intplat_common import split_csv
from intplat_common.alerts import OpsAlertSettings

from .consumers import router

DEFAULT_TOPICS = list(router.topics)
DEV_POSTMARK_TOKEN = "postmark-dev-token"  # noqa: S105 - the sandbox's token, refused in production
DEV_WEBHOOK_PASSWORD = "postmark-dev-password"  # noqa: S105 - refused in production
INSTAGRAM_RECONNECT_PATH = "/instagram/reconnect"  # the client portal's page that asks for a signed connect link


class NotifierSettings(OpsAlertSettings):
    service_name: str = "notifier"
    port: int = Field(default=8003, validation_alias="NOTIFIER_PORT")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:55432/notifier", validation_alias="NOTIFIER_DATABASE_URL"
    )

    postmark_api_base: str = Field(default="http://127.0.0.1:8102", validation_alias="POSTMARK_API_BASE")
    postmark_server_token: SecretStr = Field(
        default=SecretStr(DEV_POSTMARK_TOKEN), validation_alias="POSTMARK_SERVER_TOKEN"
    )
    postmark_message_stream: str = Field(default="outbound", validation_alias="POSTMARK_MESSAGE_STREAM")
    postmark_timeout_seconds: float = Field(default=10.0, gt=0, le=120, validation_alias="POSTMARK_TIMEOUT_SECONDS")
    postmark_max_attempts: int = Field(default=4, ge=1, le=10, validation_alias="POSTMARK_MAX_ATTEMPTS")
    postmark_backoff_base_seconds: float = Field(default=0.25, gt=0, validation_alias="POSTMARK_BACKOFF_BASE_SECONDS")
    postmark_breaker_fail_max: int = Field(default=5, ge=1, validation_alias="POSTMARK_BREAKER_FAIL_MAX")
    postmark_breaker_reset_seconds: float = Field(default=30.0, gt=0, validation_alias="POSTMARK_BREAKER_RESET_SECONDS")
    # The breaker's first open period; each failed trial doubles it up to POSTMARK_BREAKER_RESET_SECONDS, so a short
    # outage is over for the mails seconds after Postmark recovers.
    postmark_breaker_first_reset_seconds: float = Field(
        default=5.0, gt=0, validation_alias="POSTMARK_BREAKER_FIRST_RESET_SECONDS"
    )
    mail_from: str = Field(default="billing@intplat.local", validation_alias="NOTIFIER_FROM")
    webhook_user: str = Field(default="postmark", validation_alias="POSTMARK_WEBHOOK_USER")
    webhook_password: SecretStr = Field(
        default=SecretStr(DEV_WEBHOOK_PASSWORD), validation_alias="POSTMARK_WEBHOOK_PASSWORD"
    )
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024, validation_alias="POSTMARK_WEBHOOK_MAX_BODY_BYTES")

    stripe_api_base: str = Field(default="http://localhost:12111", validation_alias="STRIPE_API_BASE")
    stripe_api_key: SecretStr = Field(default=SecretStr("sk_test_123"), validation_alias="STRIPE_API_KEY")
    stripe_gateway_url: str = Field(default="http://127.0.0.1:8001", validation_alias="STRIPE_GATEWAY_URL")
    # The key this service presents to the gateway; by default the first of INTERNAL_API_KEYS.
    stripe_gateway_api_key: SecretStr | None = Field(default=None, validation_alias="STRIPE_GATEWAY_API_KEY")
    billing_portal_fallback_url: str | None = Field(default=None, validation_alias="BILLING_PORTAL_FALLBACK_URL")
    billing_portal_return_url: str = Field(
        default="https://app.intplat.local/account/billing", validation_alias="BILLING_PORTAL_RETURN_URL"
    )
    # The invoice PDFs mailed for checkouts are fetched here (only URLs under it); the key it accepts: by default the
    # first of INTERNAL_API_KEYS.
    lexoffice_bridge_url: str = Field(default="http://127.0.0.1:8002", validation_alias="LEXOFFICE_BRIDGE_URL")
    lexoffice_bridge_api_key: SecretStr | None = Field(default=None, validation_alias="LEXOFFICE_BRIDGE_API_KEY")
    # The reconnect button opens the client portal's page, which asks instagram-sync for a signed connect link for
    # its logged-in client (instagram-sync's connect route refuses a bare account id). INSTAGRAM_RECONNECT_URL, when
    # set, replaces the whole page address.
    client_portal_url: str = Field(default="http://127.0.0.1:3000", validation_alias="CLIENT_PORTAL_URL")
    instagram_reconnect_url_override: str | None = Field(default=None, validation_alias="INSTAGRAM_RECONNECT_URL")

    breaker_alert_after_seconds: float = Field(
        default=120.0, ge=0, validation_alias="NOTIFIER_BREAKER_ALERT_AFTER_SECONDS"
    )
    breaker_watch_interval_seconds: float = Field(
        default=5.0, gt=0, validation_alias="NOTIFIER_BREAKER_WATCH_INTERVAL_SECONDS"
    )

    default_locale: Literal["de", "en"] = Field(default="en", validation_alias="NOTIFIER_DEFAULT_LOCALE")
    consumer_group: str = Field(default="notifier", min_length=1, validation_alias="NOTIFIER_CONSUMER_GROUP")
    topics: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_TOPICS), validation_alias="NOTIFIER_TOPICS"
    )
    embedded_consumer: bool = Field(default=True, validation_alias="NOTIFIER_EMBEDDED_CONSUMER")
    embedded_sender: bool = Field(default=True, validation_alias="NOTIFIER_EMBEDDED_SENDER")

    sender_batch_size: int = Field(default=100, ge=1, le=500, validation_alias="NOTIFIER_SENDER_BATCH_SIZE")
    sender_poll_seconds: float = Field(default=2.0, gt=0, validation_alias="NOTIFIER_SENDER_POLL_SECONDS")
    sender_linger_seconds: float = Field(default=0.1, ge=0, le=5, validation_alias="NOTIFIER_SENDER_LINGER_SECONDS")
    # Renewed every third of itself while the sender works on its rows (however long a Postmark call takes): a
    # killed sender's rows are taken up again this long after its last renewal.
    send_lease_seconds: float = Field(default=30.0, ge=5, validation_alias="NOTIFIER_SEND_LEASE_SECONDS")
    retry_base_seconds: float = Field(default=2.0, gt=0, validation_alias="NOTIFIER_RETRY_BASE_SECONDS")
    retry_max_seconds: float = Field(default=900.0, gt=0, validation_alias="NOTIFIER_RETRY_MAX_SECONDS")
    # After an ambiguous failure, wait this long before searching Postmark (its search index may lag).
    reconcile_delay_seconds: float = Field(default=10.0, ge=0, validation_alias="NOTIFIER_RECONCILE_DELAY_SECONDS")
    # A payment-failed mail waits this long (and 3 attempts) for its Billing Portal link before going without it.
    portal_link_wait_seconds: float = Field(default=120.0, ge=0, validation_alias="NOTIFIER_PORTAL_LINK_WAIT_SECONDS")
    # A mail for a customer whose address no event carried yet waits this long for one (0: it fails at once).
    recipient_wait_seconds: float = Field(default=86400.0, ge=0, validation_alias="NOTIFIER_RECIPIENT_WAIT_SECONDS")

    @field_validator("topics", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)

    @model_validator(mode="after")
    def _consistent(self) -> NotifierSettings:
        if not self.topics:
            raise ValueError("NOTIFIER_TOPICS must name at least one topic")
        if self.environment == "production":
            if self.postmark_server_token.get_secret_value() in ("", DEV_POSTMARK_TOKEN):
                raise ValueError("POSTMARK_SERVER_TOKEN is the development placeholder; set the server token")
            if self.webhook_password.get_secret_value() in ("", DEV_WEBHOOK_PASSWORD):
                raise ValueError("POSTMARK_WEBHOOK_PASSWORD is the development placeholder; set a real password")
        return self

    @property
    def instagram_reconnect_url(self) -> str:
        """The reconnect button's page (`?account_id=` is appended): the portal's `INSTAGRAM_RECONNECT_PATH`."""
        return self.instagram_reconnect_url_override or self.client_portal_url.rstrip("/") + INSTAGRAM_RECONNECT_PATH

    def gateway_api_key(self) -> str | None:
        return self._internal_key(self.stripe_gateway_api_key)

    def bridge_api_key(self) -> str | None:
        return self._internal_key(self.lexoffice_bridge_api_key)

    def _internal_key(self, explicit: SecretStr | None) -> str | None:
        """The key this service presents to another of ours: its own setting, else the first of INTERNAL_API_KEYS."""
        if explicit is not None:
            return explicit.get_secret_value()
        return self.internal_api_keys[0].get_secret_value() if self.internal_api_keys else None
