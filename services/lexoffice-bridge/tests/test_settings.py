"""Settings: environment names and defaults, the pace below the limit, production refuses the placeholder key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from intplat_common.credentials import CredentialSettings
from lexoffice_bridge.settings import DEV_API_KEY, LexofficeBridgeSettings

from .conftest import make_settings
from .test_webhooks import LEXOFFICE_KEY, public_pem

PRODUCTION = {
    "INTPLAT_ENVIRONMENT": "production",
    "LEXOFFICE_WEBHOOK_PUBLIC_KEY": public_pem(LEXOFFICE_KEY),
    "INTERNAL_API_KEYS": "a-real-internal-key",
    "CREDENTIALS_ENCRYPTION_KEYS": f"k1:{Fernet.generate_key().decode()}",
}


def test_defaults_match_the_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LEXOFFICE_BRIDGE_PORT", "LEXOFFICE_BRIDGE_DATABASE_URL", "LEXOFFICE_API_BASE", "LEXOFFICE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = LexofficeBridgeSettings()
    assert isinstance(settings, CredentialSettings)
    assert settings.port == 8002
    assert settings.database_url == "postgresql://postgres@127.0.0.1:55432/lexoffice_bridge"
    assert settings.lexoffice_api_base == "http://127.0.0.1:8101"
    assert settings.lexoffice_api_key.get_secret_value() == DEV_API_KEY
    assert settings.consumer_group == "lexoffice-bridge"
    assert settings.lexoffice_rate_limit_per_second == 2
    assert 1.9 <= settings.lexoffice_pace_per_second < 2, "paced a little below Lexoffice's 2 requests per second"


def test_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEXOFFICE_BRIDGE_PORT", "9002")
    monkeypatch.setenv("LEXOFFICE_RATE_LIMIT_PER_SECOND", "4")
    monkeypatch.setenv("LEXOFFICE_RATE_LIMIT_MARGIN", "0.1")
    settings = LexofficeBridgeSettings()
    assert settings.port == 9002
    assert settings.lexoffice_pace_per_second == pytest.approx(3.6)


def test_the_api_key_is_secret() -> None:
    assert "test-lexoffice-key" not in repr(make_settings())


@pytest.mark.parametrize("key", ["", DEV_API_KEY])
def test_production_refuses_the_placeholder_key(key: str) -> None:
    with pytest.raises(ValidationError, match="LEXOFFICE_API_KEY"):
        make_settings(**PRODUCTION, LEXOFFICE_API_KEY=key)


def test_production_accepts_a_real_key() -> None:
    settings = make_settings(**PRODUCTION)
    assert settings.lexoffice_api_key.get_secret_value() == "test-lexoffice-key"


def test_production_needs_the_webhook_key() -> None:
    with pytest.raises(ValidationError, match="LEXOFFICE_WEBHOOK_PUBLIC_KEY"):
        make_settings(**{**PRODUCTION, "LEXOFFICE_WEBHOOK_PUBLIC_KEY": ""})


@pytest.mark.parametrize("margin", ["-0.1", "0.5"])
def test_the_margin_is_a_small_share(margin: str) -> None:
    with pytest.raises(ValidationError):
        make_settings(LEXOFFICE_RATE_LIMIT_MARGIN=margin)


def test_the_subscriptions_point_at_the_configured_url_or_outside_production_at_the_bridge() -> None:
    assert make_settings().subscription_callback_url == "http://127.0.0.1:8002/webhooks/lexoffice"
    url = "https://bridge.example.com/webhooks/lexoffice"
    assert make_settings(**PRODUCTION, LEXOFFICE_BRIDGE_CALLBACK_URL=url).subscription_callback_url == url
    assert make_settings(**PRODUCTION).subscription_callback_url is None


def test_production_refuses_a_callback_url_that_is_not_https() -> None:
    with pytest.raises(ValidationError, match="LEXOFFICE_BRIDGE_CALLBACK_URL"):
        make_settings(**PRODUCTION, LEXOFFICE_BRIDGE_CALLBACK_URL="http://bridge.example.com/webhooks/lexoffice")
