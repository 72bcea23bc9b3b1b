"""E-mail templates kept in this repository and rendered with jinja2.

Why repo templates rather than Postmark's server-side templates (`/email/withTemplate`):
- versioned with the code that fills them: a model change and the template change land in one reviewed commit,
  and a rollback rolls back both;
- reviewable in a pull request like any other change, instead of edited live in a provider's web UI;
- testable offline: every template renders in every language in the unit tests, no Postmark account needed, and the
  sandbox sees exactly the bytes production would send;
- one place: with Postmark templates the wording would live at Postmark and the model in our code, two sources of
  truth that drift (and a second copy per Postmark server: dev, staging, production).

Layout: `templates/<name>.<locale>.subject.txt`, `<name>.<locale>.html` (autoescaped) and `<name>.<locale>.txt`.
Locales: `de` and `en`, chosen from the customer's locale (`pick_locale`). Undefined variables are errors
(StrictUndefined): a template never renders half a sentence because a model field was missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import jinja2

Locale = Literal["de", "en"]
LOCALES: tuple[Locale, ...] = ("de", "en")
TEMPLATE_DIR = Path(__file__).parent / "templates"

# Templates the billing and Instagram consumers use; the internal API offers the rest (see routes/emails.py).
EVENT_TEMPLATES = (
    "order_confirmation",
    "invoice_receipt",
    "payment_failed",
    "instagram_reconnect",
    "checkout_invoice",  # with the invoice PDF Lexoffice issued for a checkout attached
)
API_TEMPLATES = ("signup_confirmation", "password_reset", "magic_link")
TEMPLATES = EVENT_TEMPLATES + API_TEMPLATES


class RenderError(Exception):
    """A template could not be rendered with this model (a bug or a bad model): the message is not sendable."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def parse_locale(value: str | None) -> Locale | None:
    """`de`, `de-AT`, `de_CH` → de; `en-GB` → en; anything else → None."""
    if value:
        primary = value.replace("_", "-").split("-", 1)[0].strip().lower()
        if primary == "de":
            return "de"
        if primary == "en":
            return "en"
    return None


def pick_locale(value: str | None, default: Locale = "en") -> Locale:
    """The language of `value` (see `parse_locale`), or the default."""
    return parse_locale(value) or default


ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
SYMBOLS = {"eur": "€", "usd": "$", "gbp": "£"}


def format_money(amount_minor: int | None, currency: str | None, locale: str) -> str:
    """Stripe's integer minor units as text: de `1.234,56 €`, en `€1,234.56`."""
    if amount_minor is None or not currency:
        return ""
    code = currency.lower()
    digits = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    value = abs(amount_minor) / 10**digits
    number = f"{value:,.{digits}f}"
    if locale == "de":
        number = number.replace(",", "\0").replace(".", ",").replace("\0", ".")
    sign = "-" if amount_minor < 0 else ""
    symbol = SYMBOLS.get(code)
    if locale == "de":
        return f"{sign}{number} {symbol or code.upper()}"
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{code.upper()} {number}"


_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def format_date(value: str | date | datetime | None, locale: str) -> str:
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if locale == "de":
        return f"{moment.day:02d}.{moment.month:02d}.{moment.year}"
    return f"{moment.day} {_MONTHS_EN[moment.month - 1]} {moment.year}"


# Stripe decline and failure codes → what the customer can do about it. Lost/stolen/fraud codes get the generic
# text on purpose: the mail must not tell a card thief why the payment failed.
_FAILURE_REASONS: dict[str, tuple[str, str]] = {
    "insufficient_funds": ("Your card has insufficient funds.", "Ihre Karte ist nicht ausreichend gedeckt."),
    "expired_card": ("Your card has expired.", "Ihre Karte ist abgelaufen."),
    "incorrect_cvc": ("The card's security code was incorrect.", "Die Kartenprüfnummer war nicht korrekt."),
    "incorrect_number": ("The card number was incorrect.", "Die Kartennummer war nicht korrekt."),
    "card_velocity_exceeded": (
        "Your card's spending limit was reached.",
        "Das Limit Ihrer Karte ist ausgeschöpft.",
    ),
    "authentication_required": (
        "Your bank asked you to confirm the payment.",
        "Ihre Bank verlangt eine Bestätigung der Zahlung.",
    ),
    "processing_error": (
        "An error occurred while the payment was processed.",
        "Bei der Verarbeitung der Zahlung ist ein Fehler aufgetreten.",
    ),
}
_GENERIC_FAILURE = ("Your bank declined the payment.", "Ihre Bank hat die Zahlung abgelehnt.")


def failure_reason(locale: str, decline_code: str | None, failure_code: str | None) -> str:
    for code in (decline_code, failure_code):
        if code and code in _FAILURE_REASONS:
            en, de = _FAILURE_REASONS[code]
            return de if locale == "de" else en
    en, de = _GENERIC_FAILURE
    return de if locale == "de" else en


class Renderer:
    def __init__(self, directory: Path = TEMPLATE_DIR, *, product_name: str = "intplat") -> None:
        loader = jinja2.FileSystemLoader(str(directory))
        common: dict[str, Any] = {"loader": loader, "undefined": jinja2.StrictUndefined, "trim_blocks": True}
        self._html = jinja2.Environment(autoescape=True, **common)
        self._text = jinja2.Environment(autoescape=False, keep_trailing_newline=True, **common)  # noqa: S701 - text/plain
        for env in (self._html, self._text):
            env.globals["product_name"] = product_name
            env.globals["failure_reason"] = failure_reason
            env.filters["money"] = lambda amount, currency, locale: format_money(amount, currency, locale)
            env.filters["date"] = lambda value, locale: format_date(value, locale)
        self.product_name = product_name

    def render(self, template: str, locale: str, model: Mapping[str, Any]) -> RenderedEmail:
        if template not in TEMPLATES:
            raise RenderError(f"unknown template {template!r}")
        if locale not in LOCALES:
            raise RenderError(f"unsupported locale {locale!r}")
        context = {**model, "locale": locale}
        try:
            subject = self._text.get_template(f"{template}.{locale}.subject.txt").render(context)
            html = self._html.get_template(f"{template}.{locale}.html").render(context)
            text = self._text.get_template(f"{template}.{locale}.txt").render(context)
        except jinja2.TemplateError as exc:
            raise RenderError(f"{template}.{locale}: {type(exc).__name__}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise RenderError(f"{template}.{locale}: model does not fit the template: {exc}") from exc
        # One line, no CR/LF: a subject is a header, and a model value must never be able to add another header.
        subject = " ".join(subject.split())
        if not subject:
            raise RenderError(f"{template}.{locale}: empty subject")
        return RenderedEmail(subject=subject, html=html, text=text)
