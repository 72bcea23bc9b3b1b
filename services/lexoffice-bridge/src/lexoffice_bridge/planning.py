"""What a paid Stripe invoice becomes in Lexoffice, as pure functions: the contact, the voucher's items per tax rate,
or the reason it needs a human (Lexoffice books only EUR; taxes that do not add up are never guessed).

Amounts stay in Stripe's minor units (cents) until the voucher body is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from intplat_common.events import CustomerDetails, InvoicePaid, InvoiceTax

from .taxes import CategoryNames, TaxPolicy, TaxType, Undecidable, facts_of_invoice

# Lexoffice's day boundaries are German (voucherlist date filters are CET/CEST days).
BOOKING_TIMEZONE = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class TaxGroup:
    """One voucher item: everything taxed at one rate."""

    rate: str  # a decimal string, e.g. "19" or "7"
    net: int
    tax: int

    @property
    def gross(self) -> int:
        return self.net + self.tax


@dataclass(frozen=True)
class ManualBooking:
    reason: str


@dataclass(frozen=True)
class SalePlan:
    """Everything the booker needs about one paid invoice; stored as the payload of its effect rows."""

    invoice_id: str
    invoice_number: str
    customer_id: str
    stripe_event_id: str
    voucher_date: str  # yyyy-MM-dd, Berlin
    currency: str
    total: int
    tax: int
    groups: tuple[TaxGroup, ...]
    pdf_url: str | None
    tax_type: TaxType = "gross"  # chooses the posting category (taxes.py); the voucher is booked gross

    def payload(self) -> dict[str, Any]:
        return {
            "invoice_id": self.invoice_id,
            "invoice_number": self.invoice_number,
            "customer_id": self.customer_id,
            "stripe_event_id": self.stripe_event_id,
            "voucher_date": self.voucher_date,
            "currency": self.currency,
            "total": self.total,
            "tax": self.tax,
            "groups": [{"rate": g.rate, "net": g.net, "tax": g.tax} for g in self.groups],
            "pdf_url": self.pdf_url,
            "tax_type": self.tax_type,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> SalePlan:
        groups = tuple(TaxGroup(str(g["rate"]), int(g["net"]), int(g["tax"])) for g in payload["groups"])
        return cls(**{**payload, "groups": groups})


def plan_sale(event: InvoicePaid, policy: TaxPolicy) -> SalePlan | ManualBooking:
    """The voucher of a paid invoice, or why a human must book it. Requires `invoice_number` (checked by the
    handler: a paid Stripe invoice always has one)."""
    assert event.invoice_number is not None
    if event.currency.lower() != "eur":
        return ManualBooking(f"currency {event.currency.upper()}: Lexoffice books only EUR")
    groups = tax_groups(event)
    if isinstance(groups, ManualBooking):
        return groups
    tax_type = policy.tax_type(facts_of_invoice(event), [g.rate for g in groups])
    if isinstance(tax_type, Undecidable):
        return ManualBooking(tax_type.reason)
    when = event.paid_at or event.stripe_created
    return SalePlan(
        invoice_id=event.invoice_id,
        invoice_number=event.invoice_number,
        customer_id=event.customer_id,
        stripe_event_id=event.stripe_event_id,
        voucher_date=booking_date(when),
        currency="EUR",
        total=event.total,
        tax=event.total_tax,
        groups=tuple(groups),
        pdf_url=event.invoice_pdf_url,
        tax_type=tax_type,
    )


def tax_groups(event: InvoicePaid) -> list[TaxGroup] | ManualBooking:
    """One group per tax rate from the invoice's taxes; what no tax covers is a 0 % group. The groups add up to
    the invoice total exactly, or the invoice needs a human."""
    return group_taxes(event.taxes, total=event.total, total_tax=event.total_tax)


def group_taxes(taxes: Iterable[InvoiceTax], *, total: int, total_tax: int) -> list[TaxGroup] | ManualBooking:
    """`tax_groups` for any sale: its taxes (rate, taxable amount, tax), its total and its total tax."""
    net: dict[Decimal, int] = {}
    tax: dict[Decimal, int] = {}
    for entry in taxes:
        rate = tax_rate(entry)
        if rate is None or entry.taxable_amount is None:
            return ManualBooking(
                "a tax of the invoice has no taxable amount, or no percentage and its amount is not 19, 7 or 0 % of it"
            )
        net[rate] = net.get(rate, 0) + entry.taxable_amount
        tax[rate] = tax.get(rate, 0) + entry.amount
    if sum(tax.values()) != total_tax:
        return ManualBooking(f"the invoice's taxes add up to {sum(tax.values())}, not its total_tax {total_tax}")
    untaxed = total - sum(net.values()) - sum(tax.values())
    if untaxed < 0:
        return ManualBooking(f"the taxed amounts exceed the invoice total {total}")
    if untaxed:
        net[Decimal(0)] = net.get(Decimal(0), 0) + untaxed
        tax.setdefault(Decimal(0), 0)
    if not net:
        return ManualBooking("the invoice has no amount to book")
    return [TaxGroup(rate_text(rate), net[rate], tax[rate]) for rate in sorted(net, reverse=True)]


def tax_rate(entry: InvoiceTax) -> Decimal | None:
    """The entry's percentage; without one (Stripe's webhooks name the tax rate by id only, never expanded) the German
    rate that gives exactly its amount on its taxable amount; None when neither tells or no taxable amount."""
    if entry.taxable_amount is None:
        return None
    if entry.percentage is not None:
        return Decimal(entry.percentage).normalize()
    rate = german_rate(entry.taxable_amount, entry.amount)
    return Decimal(rate) if rate is not None else None


GERMAN_RATES = (19, 7, 0)


def german_rate(net: int, tax: int) -> int | None:
    """The one rate whose tax on `net` (cents, rounded half up), or whose share of `net + tax`, is exactly `tax`; None
    when no rate or more than one does (tiny amounts round alike at 19 and 7 %: never guessed, a human books it)."""
    if net == 0:
        return 0 if tax == 0 else None
    matches = [
        rate
        for rate in GERMAN_RATES
        if tax in (half_up_cents(Decimal(net) * rate / 100), half_up_cents(Decimal(net + tax) * rate / (100 + rate)))
    ]
    return matches[0] if len(matches) == 1 else None


def half_up_cents(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def booking_date(when: datetime) -> str:
    return when.astimezone(BOOKING_TIMEZONE).date().isoformat()


def rate_text(rate: Decimal) -> str:
    return format(rate, "f")


def voucher_body(plan: SalePlan, *, contact_id: str, category_id: str) -> dict[str, Any]:
    """A `salesinvoice` voucher in gross mode: one item per tax rate; `voucherNumber` is the Stripe invoice number
    (the key it is found by after an ambiguous create)."""
    return {
        "type": "salesinvoice",
        "voucherStatus": "open",
        "voucherNumber": plan.invoice_number,
        "voucherDate": plan.voucher_date,
        "shippingDate": plan.voucher_date,
        "totalGrossAmount": json_euros(plan.total),
        "totalTaxAmount": json_euros(plan.tax),
        "taxType": "gross",
        "contactId": contact_id,
        "remark": f"Stripe invoice {plan.invoice_id}",
        "voucherItems": [
            {
                "amount": json_euros(group.gross),
                "taxAmount": json_euros(group.tax),
                "taxRatePercent": rate_number(group.rate),
                "categoryId": category_id,
            }
            for group in plan.groups
        ],
    }


def euros(cents: int) -> Decimal:
    return Decimal(cents) / 100


def json_euros(cents: int) -> float:
    """For the JSON body: Lexoffice reads amounts as numbers with two decimals."""
    return float(euros(cents))


def rate_number(text: str) -> int | float:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True)
class ContactPlan:
    customer_id: str
    email: str | None
    name: str
    country: str | None
    company: bool

    def payload(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "email": self.email,
            "name": self.name,
            "country": self.country,
            "company": self.company,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ContactPlan:
        return cls(**payload)


def plan_contact(event: InvoicePaid) -> ContactPlan:
    return contact_of(event.customer_id, event.customer)


def contact_of(customer_id: str, details: CustomerDetails | None) -> ContactPlan:
    """The contact of a Stripe customer, from the details a billing event carries."""
    email = details.email.strip().lower() if details and details.email else None
    name = (details.name if details else None) or email or customer_id
    country = details.address.country if details and details.address else None
    # A customer with a tax id is a business: Lexoffice keeps it as a company (VAT id for reverse charge later).
    company = bool(details and details.tax_ids)
    return ContactPlan(customer_id, email, name.strip()[:255], country, company)


def contact_body(plan: ContactPlan) -> dict[str, Any]:
    """A customer contact (`version: 0`), a company or a person; at most one e-mail and one billing address."""
    body: dict[str, Any] = {"version": 0, "roles": {"customer": {}}}
    if plan.company:
        body["company"] = {"name": plan.name}
    else:
        body["person"] = {"lastName": plan.name}
    if plan.email:
        body["emailAddresses"] = {"business": [plan.email]}
    if plan.country:
        body["addresses"] = {"billing": [{"countryCode": plan.country.upper()}]}
    body["note"] = f"Stripe customer {plan.customer_id}"
    return body


@dataclass(frozen=True)
class BookingRules:
    """How the booker books: the posting category per tax type, and how long a step waits."""

    categories: CategoryNames
    wait_seconds: float  # the deadline of a wait on an earlier step of the same document
    original_wait_seconds: float  # how long a refund waits for its original before a human books it

    def category(self, categories: Sequence[Mapping[str, Any]], tax_type: TaxType) -> str | ManualBooking:
        """The id of the income posting category for `tax_type` among Lexoffice's `categories`."""
        name = self.categories.name_for(tax_type)
        if name is None:
            return ManualBooking(f"no posting category configured for {tax_type} sales")
        found = category_for(categories, name)
        return found if found is not None else ManualBooking(f"no income posting category named {name!r}")


def category_for(categories: Sequence[Mapping[str, Any]], name: str) -> str | None:
    """The id of the income posting category called `name`."""
    for category in categories:
        if category.get("name") == name and category.get("type", "income") == "income":
            return str(category["id"])
    return None
