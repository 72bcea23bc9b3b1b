"""Repo templates: every template renders in both languages, HTML is escaped, text is not, money reads right."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from notifier.consumers.billing import plan_checkout, plan_invoice, plan_payment_failed
from notifier.consumers.documents import plan_document_mail
from notifier.consumers.instagram import plan_reconnect
from notifier.rendering import (
    API_TEMPLATES,
    LOCALES,
    TEMPLATE_DIR,
    TEMPLATES,
    Renderer,
    RenderError,
    failure_reason,
    format_date,
    format_money,
    pick_locale,
)

from .samples import API_MODELS, checkout, connection_expiring, document_synced, invoice, payment_failed


def models() -> dict[str, dict[str, Any]]:
    planned = [
        plan_checkout(checkout()),
        plan_invoice(invoice()),
        plan_payment_failed(payment_failed()),
        plan_reconnect(connection_expiring(), "https://app.example.com/connect", datetime(2030, 3, 1, tzinfo=UTC)),
        plan_document_mail(document_synced()),
    ]
    result = {p.template: {**p.model, "name": "Ada"} for p in planned if not isinstance(p, str)}
    result["payment_failed"]["portal_url"] = "https://billing.stripe.com/p/session/test_1"
    for name, model in API_MODELS.items():
        result[name] = {**model, "name": "Ada"}
    return result


def test_every_template_has_three_parts_in_both_languages() -> None:
    for name in TEMPLATES:
        for locale in LOCALES:
            for part in ("subject.txt", "html", "txt"):
                assert (TEMPLATE_DIR / f"{name}.{locale}.{part}").is_file(), f"{name}.{locale}.{part} missing"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_template_renders(template: str, locale: str) -> None:
    email = Renderer().render(template, locale, models()[template])
    assert email.subject and "\n" not in email.subject
    assert email.html.lstrip().startswith("<!DOCTYPE html>")
    assert f'<html lang="{locale}">' in email.html
    assert "<" not in email.text.replace("<b>", ""), "the text part carries no markup"
    assert ("Hallo Ada" if locale == "de" else "Hello Ada") in email.text
    assert ("Viele Grüße" if locale == "de" else "Best regards") in email.html


def test_receipt_carries_invoice_number_and_links_in_both_parts() -> None:
    email = Renderer().render("invoice_receipt", "en", models()["invoice_receipt"])
    assert email.subject == "Receipt for invoice INV-0001"
    for part in (email.html, email.text):
        assert "https://invoice.stripe.com/i/acct_1/test_inv1" in part
        assert "https://pay.stripe.com/invoice/acct_1/test_inv1/pdf" in part
        assert "€11.90" in part
    german = Renderer().render("invoice_receipt", "de", models()["invoice_receipt"])
    assert german.subject == "Zahlungsbestätigung für Rechnung INV-0001"
    assert "11,90 €" in german.text and "01.03.2026" in german.text


def test_payment_failed_names_reason_and_link() -> None:
    model = models()["payment_failed"]
    email = Renderer().render("payment_failed", "de", model)
    assert email.subject == "Ihre Zahlung über 11,90 € ist fehlgeschlagen"
    assert "Ihre Karte ist nicht ausreichend gedeckt." in email.text
    assert "Visa mit der Endung 4242" in email.text
    assert "https://billing.stripe.com/p/session/test_1" in email.html
    without_link = Renderer().render("payment_failed", "en", {**model, "portal_url": None})
    assert "sign in to your account" in without_link.text
    assert "billing.stripe.com" not in without_link.html


def test_html_is_escaped_and_text_is_not() -> None:
    model = {**models()["order_confirmation"], "name": '<script>alert("x")</script>'}
    model["line_items"] = [{"description": "<b>Pro</b> & more", "quantity": 1, "amount_total": 1190}]
    email = Renderer().render("order_confirmation", "en", model)
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert "&lt;b&gt;Pro&lt;/b&gt; &amp; more" in email.html
    assert '<script>alert("x")</script>' in email.text
    assert "<b>Pro</b> & more" in email.text


def test_subject_stays_one_header_line() -> None:
    model = {**models()["order_confirmation"], "order_reference": "42\r\nBcc: victim@example.com"}
    email = Renderer().render("order_confirmation", "en", model)
    assert "\r" not in email.subject and "\n" not in email.subject
    assert email.subject == "Your order is confirmed (42 Bcc: victim@example.com)"


def test_missing_model_field_is_an_error_not_half_a_mail() -> None:
    model = dict(models()["password_reset"])
    del model["reset_url"]
    with pytest.raises(RenderError, match="reset_url"):
        Renderer().render("password_reset", "en", model)
    with pytest.raises(RenderError, match="unknown template"):
        Renderer().render("nope", "en", {})
    with pytest.raises(RenderError, match="locale"):
        Renderer().render("password_reset", "fr", models()["password_reset"])


def test_api_templates_are_the_documented_ones() -> None:
    assert set(API_TEMPLATES) == {"signup_confirmation", "password_reset", "magic_link"}


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (1190, "eur", "de", "11,90 €"),
        (1190, "eur", "en", "€11.90"),
        (123456789, "eur", "de", "1.234.567,89 €"),
        (123456789, "usd", "en", "$1,234,567.89"),
        (500, "jpy", "en", "JPY 500"),
        (1500, "kwd", "de", "1,500 KWD"),
        (-250, "gbp", "en", "-£2.50"),
        (990, "chf", "de", "9,90 CHF"),
        (None, "eur", "en", ""),
    ],
)
def test_money(amount: int | None, currency: str, locale: str, expected: str) -> None:
    assert format_money(amount, currency, locale) == expected


def test_dates_locales_and_reasons() -> None:
    assert format_date("2026-03-01T12:00:00+00:00", "de") == "01.03.2026"
    assert format_date("2026-03-01T12:00:00+00:00", "en") == "1 March 2026"
    assert format_date(None, "en") == ""
    assert [pick_locale(v) for v in ("de", "de-AT", "de_CH", "DE", "en-GB", "fr", None, "")] == [
        "de", "de", "de", "de", "en", "en", "en", "en",
    ]  # fmt: skip
    assert pick_locale("fr", "de") == "de"
    assert failure_reason("en", "expired_card", "card_declined") == "Your card has expired."
    # Lost or stolen cards get the generic text: the mail must not explain the decline to a card thief.
    assert failure_reason("de", "stolen_card", "card_declined") == "Ihre Bank hat die Zahlung abgelehnt."


def test_checkout_invoice_names_date_and_amount_but_never_the_internal_file_address() -> None:
    model = models()["checkout_invoice"]
    german = Renderer().render("checkout_invoice", "de", model)
    assert german.subject == "Ihre Rechnung vom 01.03.2026"
    english = Renderer().render("checkout_invoice", "en", model)
    assert english.subject == "Your invoice of 1 March 2026"
    for email, total, tax in ((german, "11,90 €", "1,90 €"), (english, "€11.90", "€1.90")):
        for part in (email.html, email.text):
            assert total in part and tax in part
            assert "/v1/documents/" not in part
