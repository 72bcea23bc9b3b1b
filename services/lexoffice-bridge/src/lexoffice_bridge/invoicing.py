"""What a paid checkout without a Stripe invoice becomes in Lexoffice (booking path 2), as pure functions: a
Lexoffice invoice (finalized on create, numbered by Lexoffice), or the reason it needs a human.

Stripe's checkout carries amounts per line but no tax rate: each line's rate is the German rate (19, 7 or 0 %)
that gives exactly its tax; the lines, grouped per rate, must add up to the checkout's total and total tax
(`planning.group_taxes`, as for path 1), and Lexoffice, which computes the tax per rate itself from the gross sum
(gross mode), must arrive at Stripe's taxes. (Net mode never helps where gross mode fails: Lexoffice's gross-mode
tax is off Stripe's by 84 % of Stripe's summed per-line rounding, its net-mode tax by all of it.) Anything else is
never guessed: it needs manual booking.

Lexoffice assigns the invoice number, so nothing we send is a key Lexoffice searches by: the checkout session id
goes into the `remark` (`marker`), which `GET /v1/invoices/{id}` returns, to identify an earlier create.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from intplat_common.events import CheckoutCompleted, InvoiceTax

from .planning import BOOKING_TIMEZONE, ManualBooking, TaxGroup, booking_date, german_rate, group_taxes, half_up_cents
from .taxes import TaxPolicy, Undecidable, decide, facts_of_checkout


@dataclass(frozen=True)
class InvoiceLine:
    name: str
    quantity: int
    rate: int
    net: int  # cents, the whole line
    tax: int

    @property
    def gross(self) -> int:
        return self.net + self.tax


@dataclass(frozen=True)
class CheckoutSale:
    """Everything the booker needs about one paid checkout; stored as the payload of its effect rows."""

    session_id: str
    customer_id: str | None  # None: a guest checkout, invoiced to a one-time address
    stripe_event_id: str
    voucher_date: str  # yyyy-MM-dd, Berlin
    voucher_time: str  # the same moment as Lexoffice's timestamp (yyyy-MM-ddTHH:mm:ss.SSS+hh:mm)
    total: int
    tax: int
    lines: tuple[InvoiceLine, ...]
    email: str | None
    name: str
    country: str | None
    locale: str | None
    payment_intent_id: str | None = None  # what a refund names its original by

    @property
    def currency(self) -> str:
        return "EUR"  # the only currency planned: others need manual booking

    @property
    def groups(self) -> tuple[TaxGroup, ...]:
        """Its amounts per tax rate, highest rate first."""
        sums: dict[int, tuple[int, int]] = {}
        for line in self.lines:
            net, tax = sums.get(line.rate, (0, 0))
            sums[line.rate] = (net + line.net, tax + line.tax)
        return tuple(TaxGroup(str(rate), net, tax) for rate, (net, tax) in sorted(sums.items(), reverse=True))

    def payload(self) -> dict[str, Any]:
        # `document_key` names the document the rows belong to (the admin's history and Retry find them by it).
        return {**asdict(self), "lines": [asdict(line) for line in self.lines], "document_key": self.session_id}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> CheckoutSale:
        fields = {k: v for k, v in payload.items() if k != "document_key"}
        return cls(**{**fields, "lines": tuple(InvoiceLine(**line) for line in payload["lines"])})


def skip_reason(event: CheckoutCompleted) -> str | None:
    """Why a completed checkout is not booked on this path, or None when it is."""
    if event.status != "complete" or event.payment_status != "paid":
        return f"checkout is {event.status}/{event.payment_status}, not complete and paid"
    if event.mode != "payment":
        return f"{event.mode}-mode checkout: its invoices arrive as invoice.paid"
    if event.invoice_id is not None:
        return f"Stripe issued invoice {event.invoice_id}: booked from its invoice.paid (path 1)"
    return None


def plan_checkout(event: CheckoutCompleted) -> CheckoutSale | ManualBooking:
    """The invoice of a paid payment-mode checkout without a Stripe invoice (see `skip_reason`), or why a human
    must book it."""
    if event.currency is None or event.currency.lower() != "eur":
        return ManualBooking(f"currency {(event.currency or 'none').upper()}: Lexoffice books only EUR")
    if event.amount_total is None or event.amount_total <= 0:
        return ManualBooking("the checkout has no amount to book")
    details = event.customer
    country = details.address.country if details and details.address else None
    if event.customer_id is None and not country:
        return ManualBooking("a guest checkout without a billing country (Lexoffice's one-time address needs one)")
    lines = invoice_lines(event)
    if isinstance(lines, ManualBooking):
        return lines
    taxes = [InvoiceTax(amount=line.tax, taxable_amount=line.net, percentage=str(line.rate)) for line in lines]
    total_tax = event.amount_tax or 0
    groups = group_taxes(taxes, total=event.amount_total, total_tax=total_tax)
    if isinstance(groups, ManualBooking):
        return groups
    untaxed = sum(g.net for g in groups if g.rate == "0") - sum(line.net for line in lines if line.rate == 0)
    if untaxed:
        lines.append(InvoiceLine("Weitere Kosten / other charges", 1, 0, untaxed, 0))
    if not lexoffice_computes(groups):
        return ManualBooking("Lexoffice would compute other taxes per rate than Stripe charged (per-line rounding)")
    email = details.email.strip().lower() if details and details.email else None
    name = (details.name if details else None) or email or event.customer_id or event.checkout_session_id
    when = event.stripe_created.astimezone(BOOKING_TIMEZONE)
    return CheckoutSale(
        session_id=event.checkout_session_id,
        customer_id=event.customer_id,
        stripe_event_id=event.stripe_event_id,
        voucher_date=booking_date(when),
        voucher_time=when.isoformat(timespec="milliseconds"),
        total=event.amount_total,
        tax=total_tax,
        lines=tuple(lines),
        email=email,
        name=name.strip()[:255],
        country=country.upper() if country else None,
        locale=details.locale if details else None,
        payment_intent_id=event.payment_intent_id,
    )


def tax_rule(event: CheckoutCompleted, policy: TaxPolicy) -> ManualBooking | None:
    """Path 2 issues gross invoices only (Stripe's amounts, see above): a sale whose tax type (taxes.py) is `net` or
    `gross` is invoiced; any other (vat-free small business, intra-community supply, reverse charge, third country)
    or an undecidable one needs manual booking, never an invoice with a guessed tax type."""
    decided = decide(facts_of_checkout(event), supply=policy.supply, small_business=policy.small_business)
    if isinstance(decided, Undecidable):
        return ManualBooking(decided.reason)
    if decided not in ("net", "gross"):
        return ManualBooking(f"tax type {decided}: checkout invoices are issued with German VAT (gross) only")
    return None


def invoice_lines(event: CheckoutCompleted) -> list[InvoiceLine] | ManualBooking:
    """One invoice line per checkout line, each with its German rate; without lines (not fetched by the gateway),
    one line for the whole checkout."""
    assert event.amount_total is not None
    items = event.line_items
    if items is None:
        items_data = [(f"Bestellung / order {event.checkout_session_id}", 1, event.amount_total, event.amount_tax or 0)]
    else:
        items_data = [
            (
                (item.description or "Artikel / item").strip()[:255],
                item.quantity or 1,
                item.amount_total,
                item.amount_tax or 0,
            )
            for item in items
        ]
    lines: list[InvoiceLine] = []
    for name, quantity, gross, tax in items_data:
        rate = german_rate(gross - tax, tax)
        if rate is None:
            return ManualBooking(f"the tax {tax} of {name!r} ({gross} gross) is not 19, 7 or 0 % of its net amount")
        lines.append(InvoiceLine(name, quantity, rate, gross - tax, tax))
    return lines


def lexoffice_computes(groups: list[TaxGroup]) -> bool:
    """Whether Lexoffice's own tax per rate in gross mode (on the gross sum, 2 decimals) is Stripe's."""
    return all(half_up_cents(Decimal(g.gross) * Decimal(g.rate) / (100 + Decimal(g.rate))) == g.tax for g in groups)


def marker(session_id: str) -> str:
    return f"Stripe Checkout {session_id}"


def invoice_body(sale: CheckoutSale, *, contact_id: str | None) -> dict[str, Any]:
    """The `POST /v1/invoices?finalize=true` body: the customer's contact (or a one-time address for a guest), one
    custom line per checkout line in gross mode, delivered as a service on the checkout's date; `remark` carries
    the marker."""
    address: dict[str, Any] = (
        {"contactId": contact_id} if contact_id is not None else {"name": sale.name, "countryCode": sale.country}
    )
    return {
        "voucherDate": sale.voucher_time,
        "address": address,
        "lineItems": [_line_item(line) for line in sale.lines],
        "totalPrice": {"currency": "EUR"},
        "taxConditions": {"taxType": "gross"},
        "shippingConditions": {"shippingType": "service", "shippingDate": sale.voucher_time},
        "remark": marker(sale.session_id),
    }


def _line_item(line: InvoiceLine) -> dict[str, Any]:
    # Lexoffice multiplies quantity by unit price: a line total that does not divide evenly is one unit of it.
    quantity = line.quantity if line.quantity > 0 and line.gross % line.quantity == 0 else 1
    name = line.name if quantity == line.quantity else f"{line.quantity} x {line.name}"[:255]
    unit = Decimal(line.gross) / quantity / 100
    return {
        "type": "custom",
        "name": name,
        "quantity": quantity,
        "unitName": "Stück",
        "unitPrice": {
            "currency": "EUR",
            "grossAmount": float(unit),
            "taxRatePercentage": line.rate,
        },
    }
