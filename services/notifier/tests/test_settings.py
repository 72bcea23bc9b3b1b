"""Settings: environment names, production refuses placeholders, a short send lease (the sender renews it)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notifier.settings import DEFAULT_TOPICS, NotifierSettings


def test_defaults_match_the_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTIFIER_PORT", "NOTIFIER_DATABASE_URL", "POSTMARK_API_BASE", "NOTIFIER_TOPICS"):
        monkeypatch.delenv(name, raising=False)
    settings = NotifierSettings()
    assert settings.port == 8003
    assert settings.database_url == "postgresql://postgres@127.0.0.1:55432/notifier"
    assert settings.postmark_api_base == "http://127.0.0.1:8102"
    assert settings.consumer_group == "notifier"
    assert (
        settings.topics
        == DEFAULT_TOPICS
        == [
            "billing.checkout.completed.v1",
            "billing.invoice.paid.v1",
            "billing.payment.failed.v1",
            "bookkeeping.document.synced.v1",
            "instagram.connection.expiring.v1",
        ]
    )
    assert settings.breaker_alert_after_seconds == 120


def test_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_PORT", "9003")
    monkeypatch.setenv("NOTIFIER_TOPICS", "a.v1, b.v1")
    monkeypatch.setenv("INTERNAL_API_KEYS", "k1,k2")
    settings = NotifierSettings()
    assert settings.port == 9003
    assert settings.topics == ["a.v1", "b.v1"]
    assert settings.gateway_api_key() == "k1", "the first internal key unless STRIPE_GATEWAY_API_KEY is set"


def test_production_refuses_placeholders() -> None:
    with pytest.raises(ValidationError, match="POSTMARK_SERVER_TOKEN"):
        NotifierSettings(INTPLAT_ENVIRONMENT="production", INTERNAL_API_KEYS="real-key-1")
    with pytest.raises(ValidationError, match="POSTMARK_WEBHOOK_PASSWORD"):
        NotifierSettings(
            INTPLAT_ENVIRONMENT="production", INTERNAL_API_KEYS="real-key-1", POSTMARK_SERVER_TOKEN="pm-real"
        )
    ok = NotifierSettings(
        INTPLAT_ENVIRONMENT="production",
        INTERNAL_API_KEYS="real-key-1",
        POSTMARK_SERVER_TOKEN="pm-real",
        POSTMARK_WEBHOOK_PASSWORD="a-long-random-password",
    )
    assert ok.environment == "production"


def test_the_lease_may_be_shorter_than_a_postmark_call_but_not_than_a_renewal() -> None:
    # The sender renews its rows' lease while a call runs (intplat_common.effects, test_effects.py proves a slow
    # call keeps its row), so a killed sender's rows wait 30 s, not the longest call's 72 s.
    settings = NotifierSettings(POSTMARK_TIMEOUT_SECONDS=10, POSTMARK_MAX_ATTEMPTS=4)
    assert settings.send_lease_seconds == 30
    with pytest.raises(ValidationError, match="NOTIFIER_SEND_LEASE_SECONDS"):
        NotifierSettings(NOTIFIER_SEND_LEASE_SECONDS=1)


def test_reconnect_button_opens_the_client_portal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLIENT_PORTAL_URL", "INSTAGRAM_RECONNECT_URL"):
        monkeypatch.delenv(name, raising=False)
    assert NotifierSettings().instagram_reconnect_url == "http://127.0.0.1:3000/instagram/reconnect", (
        "not instagram-sync's connect route: it needs a signed link the portal asks for"
    )
    monkeypatch.setenv("CLIENT_PORTAL_URL", "https://portal.example/")
    assert NotifierSettings().instagram_reconnect_url == "https://portal.example/instagram/reconnect"
    monkeypatch.setenv("INSTAGRAM_RECONNECT_URL", "https://portal.example/ig?from=mail")
    assert NotifierSettings().instagram_reconnect_url == "https://portal.example/ig?from=mail"
