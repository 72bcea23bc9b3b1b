"""lexoffice-bridge settings: built once in `main` (or a test) and passed to the service kit."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from intplat_common import split_csv
from intplat_common.alerts import OpsAlertSettings
from intplat_common.credentials import parse_password_hash

from .consumers import router
from .oauth.settings import LexofficeOAuthSettings
from .planning import BookingRules
from .taxes import CategoryNames, Supply, TaxPolicy
from .webhook_signature import WebhookVerifier

DEV_API_KEY = "lexoffice-dev-key"  # the sandbox's key, refused in production


class LexofficeBridgeSettings(LexofficeOAuthSettings, OpsAlertSettings):
    service_name: str = "lexoffice-bridge"
    port: int = Field(default=8002, validation_alias="LEXOFFICE_BRIDGE_PORT")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:55432/lexoffice_bridge",
        validation_alias="LEXOFFICE_BRIDGE_DATABASE_URL",
    )
    consumer_group: str = Field(
        default="lexoffice-bridge", min_length=1, validation_alias="LEXOFFICE_BRIDGE_CONSUMER_GROUP"
    )

    lexoffice_api_base: str = Field(default="http://127.0.0.1:8101", validation_alias="LEXOFFICE_API_BASE")
    lexoffice_api_key: SecretStr = Field(default=SecretStr(DEV_API_KEY), validation_alias="LEXOFFICE_API_KEY")
    # Lexoffice allows this many requests per second per API key, across all endpoints and all our processes.
    lexoffice_rate_limit_per_second: float = Field(
        default=2.0, gt=0, le=100, validation_alias="LEXOFFICE_RATE_LIMIT_PER_SECOND"
    )
    # We pace at the limit minus this share of it: network jitter makes a client at exactly the limit get 429s.
    lexoffice_rate_limit_margin: float = Field(
        default=0.03, ge=0, lt=0.5, validation_alias="LEXOFFICE_RATE_LIMIT_MARGIN"
    )
    # Lexoffice's gateway gives up after 30 s with a 504 (the call may still have succeeded): waiting a little longer
    # lets us read that 504 instead of cutting the call ourselves.
    lexoffice_timeout_seconds: float = Field(default=35.0, gt=0, le=120, validation_alias="LEXOFFICE_TIMEOUT_SECONDS")
    lexoffice_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, validation_alias="LEXOFFICE_CONNECT_TIMEOUT_SECONDS"
    )
    lexoffice_max_attempts: int = Field(default=5, ge=1, le=20, validation_alias="LEXOFFICE_MAX_ATTEMPTS")
    lexoffice_backoff_base_seconds: float = Field(default=0.5, gt=0, validation_alias="LEXOFFICE_BACKOFF_BASE_SECONDS")
    lexoffice_breaker_fail_max: int = Field(default=5, ge=1, validation_alias="LEXOFFICE_BREAKER_FAIL_MAX")
    lexoffice_breaker_reset_seconds: float = Field(
        default=60.0, gt=0, validation_alias="LEXOFFICE_BREAKER_RESET_SECONDS"
    )
    # The breaker's first open period; each failed trial doubles it up to LEXOFFICE_BREAKER_RESET_SECONDS.
    lexoffice_breaker_first_reset_seconds: float = Field(
        default=5.0, gt=0, validation_alias="LEXOFFICE_BREAKER_FIRST_RESET_SECONDS"
    )
    lexoffice_posting_categories_ttl_seconds: float = Field(
        default=3600.0, ge=0, validation_alias="LEXOFFICE_POSTING_CATEGORIES_TTL_SECONDS"
    )
    # The posting category (its name in GET /v1/posting-categories, type income) of booked Stripe sales.
    lexoffice_posting_category: str = Field(
        default="Dienstleistungen", min_length=1, validation_alias="LEXOFFICE_POSTING_CATEGORY"
    )
    # The posting categories of untaxed sales by tax type (taxes.py); unset: such sales are booked manually.
    lexoffice_posting_category_intra_community: str | None = Field(
        default=None, validation_alias="LEXOFFICE_POSTING_CATEGORY_INTRA_COMMUNITY"
    )
    lexoffice_posting_category_reverse_charge: str | None = Field(
        default=None, validation_alias="LEXOFFICE_POSTING_CATEGORY_REVERSE_CHARGE"
    )
    lexoffice_posting_category_third_country: str | None = Field(
        default=None, validation_alias="LEXOFFICE_POSTING_CATEGORY_THIRD_COUNTRY"
    )
    # What is sold (an untaxed EU or third-country sale's tax type depends on it), and whether the organisation is
    # a small business (Kleinunternehmer: every sale `vatfree`).
    lexoffice_supply: Supply = Field(default="service", validation_alias="LEXOFFICE_SUPPLY")
    lexoffice_small_business: bool = Field(default=False, validation_alias="LEXOFFICE_SMALL_BUSINESS")

    # Stripe's invoice PDFs are fetched from this base instead of the event URL's scheme and host (the path is
    # kept): `make run` and tests serve them locally. Unset: the event's URL, which must be Stripe's (https).
    pdf_base: str | None = Field(default=None, validation_alias="LEXOFFICE_BRIDGE_PDF_BASE")
    pdf_timeout_seconds: float = Field(
        default=20.0, gt=0, le=120, validation_alias="LEXOFFICE_BRIDGE_PDF_TIMEOUT_SECONDS"
    )

    # Where the other services reach this one: the synced event's `document_file_url` points here.
    bridge_url: str = Field(default="http://127.0.0.1:8002", validation_alias="LEXOFFICE_BRIDGE_URL")

    topics: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(router.topics), validation_alias="LEXOFFICE_BRIDGE_TOPICS"
    )
    embedded_consumer: bool = Field(default=True, validation_alias="LEXOFFICE_BRIDGE_EMBEDDED_CONSUMER")
    embedded_booker: bool = Field(default=True, validation_alias="LEXOFFICE_BRIDGE_EMBEDDED_BOOKER")
    booker_poll_seconds: float = Field(default=2.0, gt=0, validation_alias="LEXOFFICE_BRIDGE_BOOKER_POLL_SECONDS")
    # Renewed every third of itself while the booker works on its rows: a killed booker's rows are taken up again
    # this long after its last renewal.
    booker_lease_seconds: float = Field(default=30.0, ge=5, validation_alias="LEXOFFICE_BRIDGE_BOOKER_LEASE_SECONDS")
    retry_base_seconds: float = Field(default=2.0, gt=0, validation_alias="LEXOFFICE_BRIDGE_RETRY_BASE_SECONDS")
    retry_max_seconds: float = Field(default=900.0, gt=0, validation_alias="LEXOFFICE_BRIDGE_RETRY_MAX_SECONDS")
    # A row waiting on an earlier step of its document (the contact, the voucher) is woken by that step; at this
    # deadline it looks again (and ends dead when the step is dead).
    wait_seconds: float = Field(default=3600.0, gt=0, validation_alias="LEXOFFICE_BRIDGE_WAIT_SECONDS")
    # A refund whose original document is not booked by then needs manual booking (alerted).
    original_wait_seconds: float = Field(
        default=86_400.0, gt=0, validation_alias="LEXOFFICE_BRIDGE_ORIGINAL_WAIT_SECONDS"
    )
    # After an ambiguous create, wait this long before looking the document up (voucherlist, contacts).
    reconcile_delay_seconds: float = Field(
        default=10.0, ge=0, validation_alias="LEXOFFICE_BRIDGE_RECONCILE_DELAY_SECONDS"
    )

    # The PEM public key Lexoffice signs its callbacks with (published at
    # https://developers.lexware.io/webhookSignature/public/public_key.pub); `make run` sets the sandbox's. Without
    # it every callback is refused.
    lexoffice_webhook_public_key: str | None = Field(default=None, validation_alias="LEXOFFICE_WEBHOOK_PUBLIC_KEY")
    webhook_max_body_bytes: int = Field(default=16_384, ge=1024, validation_alias="LEXOFFICE_WEBHOOK_MAX_BODY_BYTES")

    # Who may use the admin page (basic auth): `name:hash` pairs, comma-separated, each hash from
    # `lexoffice-bridge hash-password`. None: the page refuses everyone.
    admin_users: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias="LEXOFFICE_BRIDGE_ADMIN_USERS"
    )

    # Payment status. The public URL of our `POST /webhooks/lexoffice` that the event subscriptions point at (HTTPS
    # for Lexoffice); unset outside production, the bridge's own route on its port (the sandbox allows http).
    callback_url: str | None = Field(default=None, validation_alias="LEXOFFICE_BRIDGE_CALLBACK_URL")
    embedded_status: bool = Field(default=True, validation_alias="LEXOFFICE_BRIDGE_EMBEDDED_STATUS")
    subscriptions_interval_seconds: float = Field(
        default=3600.0, gt=0, validation_alias="LEXOFFICE_BRIDGE_SUBSCRIPTIONS_INTERVAL_SECONDS"
    )
    callbacks_poll_seconds: float = Field(default=2.0, gt=0, validation_alias="LEXOFFICE_BRIDGE_CALLBACKS_POLL_SECONDS")
    # The voucherlist reconciliation is a safety net under the callbacks: Lexoffice asks not to poll.
    status_reconcile_interval_seconds: float = Field(
        default=6 * 3600.0, gt=0, validation_alias="LEXOFFICE_BRIDGE_STATUS_RECONCILE_INTERVAL_SECONDS"
    )
    # How far back its first round after a start looks for changes (later rounds start where the last one did).
    status_reconcile_lookback_days: int = Field(
        default=35, ge=1, le=366, validation_alias="LEXOFFICE_BRIDGE_STATUS_RECONCILE_LOOKBACK_DAYS"
    )

    @field_validator("topics", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("admin_users", mode="before")
    @classmethod
    def _user_hashes(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        entries = split_csv(value)
        assert isinstance(entries, list)
        users: dict[str, str] = {}
        for entry in entries:
            name, _, stored = entry.partition(":")
            if not name or not stored:
                raise ValueError("LEXOFFICE_BRIDGE_ADMIN_USERS holds `name:hash` pairs, comma-separated")
            parse_password_hash(stored)  # refuses what `hash-password` did not make
            users[name] = stored
        return users

    @field_validator("lexoffice_webhook_public_key")
    @classmethod
    def _readable_key(cls, value: str | None) -> str | None:
        if value:
            WebhookVerifier(value)  # refuses what is not an RSA public key in PEM
        return value or None

    @model_validator(mode="after")
    def _admin_page_signs_its_forms(self) -> LexofficeBridgeSettings:
        if self.admin_users and not self.credentials_encryption_keys:
            raise ValueError("the admin page signs its forms with CREDENTIALS_ENCRYPTION_KEYS: set them too")
        return self

    @model_validator(mode="after")
    def _real_values_in_production(self) -> LexofficeBridgeSettings:
        if self.environment == "production":
            if self.lexoffice_auth_mode == "api_key" and self.lexoffice_api_key.get_secret_value() in ("", DEV_API_KEY):
                raise ValueError("LEXOFFICE_API_KEY is the development placeholder; set the API key")
            if self.lexoffice_webhook_public_key is None:
                raise ValueError("LEXOFFICE_WEBHOOK_PUBLIC_KEY must be set in production (Lexoffice's published key)")
            if self.callback_url is not None and not self.callback_url.startswith("https://"):
                raise ValueError("LEXOFFICE_BRIDGE_CALLBACK_URL must be https (Lexoffice calls only HTTPS)")
        return self

    @property
    def posting_categories(self) -> CategoryNames:
        return CategoryNames(
            domestic=self.lexoffice_posting_category,
            intra_community=self.lexoffice_posting_category_intra_community,
            reverse_charge=self.lexoffice_posting_category_reverse_charge,
            third_country=self.lexoffice_posting_category_third_country,
        )

    @property
    def booking_rules(self) -> BookingRules:
        return BookingRules(self.posting_categories, self.wait_seconds, self.original_wait_seconds)

    @property
    def tax_policy(self) -> TaxPolicy:
        return TaxPolicy(self.posting_categories, self.lexoffice_supply, self.lexoffice_small_business)

    @property
    def subscription_callback_url(self) -> str | None:
        """Where the event subscriptions point: the configured URL; outside production the bridge's own route."""
        if self.callback_url is not None or self.environment == "production":
            return self.callback_url
        return f"http://127.0.0.1:{self.port}/webhooks/lexoffice"

    @property
    def lexoffice_pace_per_second(self) -> float:
        """The rate the shared token bucket paces at: the limit minus the margin."""
        return self.lexoffice_rate_limit_per_second * (1 - self.lexoffice_rate_limit_margin)
