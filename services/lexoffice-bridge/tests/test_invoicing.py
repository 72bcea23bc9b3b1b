"""Booking path 2's plan, as pure functions: which checkouts it books, each line's German rate, the mode in which
Lexoffice computes Stripe's taxes, the invoice body (checked against the Lexoffice contract), or why a human books."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from intplat_devstack.contracts import load_contract

from intplat_common.events import Address, CheckoutLineItem, CustomerDetails, TaxId
from lexoffice_bridge.invoicing import (
    CheckoutSale,
    invoice_body,
    marker,
    plan_checkout,
    skip_reason,
    tax_rule,
)
from lexoffice_bridge.planning import ManualBooking, german_rate
from lexoffice_bridge.taxes import CategoryNames, TaxPolicy

from .test_checkout_booking import paid_checkout

CONTRACT = load_contract("lexoffice")


def line(description: str, quantity: int, net: int, tax: int) -> CheckoutLineItem:
    return CheckoutLineItem(
        description=description,
        quantity=quantity,
        currency="eur",
        amount_subtotal=net,
        amount_tax=tax,
        amount_total=net + tax,
    )


def test_only_paid_payment_mode_checkouts_without_a_stripe_invoice_are_booked_here() -> None:
    assert skip_reason(paid_checkout()) is None
    assert "path 1" in str(skip_reason(paid_checkout(invoice_id="in_1")))
    assert skip_reason(paid_checkout(mode="subscription")) is not None
    assert skip_reason(paid_checkout(payment_status="no_payment_required")) is not None
    assert skip_reason(paid_checkout(status="expired", payment_status="unpaid")) is not None


def test_each_line_gets_the_german_rate_that_gives_its_tax() -> None:
    assert german_rate(10000, 1900) == 19
    assert german_rate(999, 70) == 7  # 69.93 rounded
    assert german_rate(840, 160) == 19  # tax included in 10.00: 10.00 x 19/119 = 1.5966
    assert german_rate(1000, 0) == 0
    assert german_rate(0, 0) == 0
    assert german_rate(1000, 100) is None  # 10 %: not a German rate
    assert german_rate(2, 0) is None  # 0.38 and 0.14 cents both round to 0: 19, 7 and 0 % all fit, none is chosen


def test_the_invoice_body_follows_the_contract_and_carries_the_marker() -> None:
    sale = plan_checkout(paid_checkout(stripe_created=datetime(2026, 3, 31, 22, 30, tzinfo=UTC)))
    assert isinstance(sale, CheckoutSale)
    assert (sale.voucher_date, sale.voucher_time) == ("2026-04-01", "2026-04-01T00:30:00.000+02:00")
    assert (sale.total, sale.tax) == (12970, 1970)
    body = invoice_body(sale, contact_id="1b2c3d4e-0000-4000-8000-000000000001")
    CONTRACT.check("invoice.create", body)
    assert body["remark"] == marker(sale.session_id) and sale.session_id in body["remark"]
    assert body["address"] == {"contactId": "1b2c3d4e-0000-4000-8000-000000000001"}
    assert [(i["name"], i["quantity"], i["unitPrice"]["grossAmount"]) for i in body["lineItems"]] == [
        ("Jahresabo", 1, 119.0),
        ("E-Book", 2, 5.35),
    ]
    assert CheckoutSale.from_payload(sale.payload()) == sale

    guest = plan_checkout(paid_checkout(customer_id=None))
    assert isinstance(guest, CheckoutSale)
    guest_body = invoice_body(guest, contact_id=None)
    CONTRACT.check("invoice.create", guest_body)
    assert guest_body["address"] == {"name": "Ada Lovelace", "countryCode": "DE"}


def test_a_line_total_that_does_not_divide_is_one_unit_of_it() -> None:
    sale = plan_checkout(
        paid_checkout(
            line_items=(line("Sticker", 3, 999, 190),), amount_total=1189, amount_tax=190, amount_subtotal=999
        )
    )
    assert isinstance(sale, CheckoutSale)
    body = invoice_body(sale, contact_id=None)
    CONTRACT.check("invoice.create", body)
    assert [(i["name"], i["quantity"], i["unitPrice"]["grossAmount"]) for i in body["lineItems"]] == [
        ("3 x Sticker", 1, 11.89)
    ]


def test_taxes_lexoffice_would_compute_differently_need_a_human() -> None:
    # Stripe rounds per line (2 x 0.1957 -> 0.40); Lexoffice per rate on the sum (2.46 x 19/119 = 0.3928 -> 0.39).
    lines = (line("Aufkleber", 1, 103, 20), line("Postkarte", 1, 103, 20))
    plan = plan_checkout(paid_checkout(line_items=lines, amount_total=246, amount_tax=40, amount_subtotal=206))
    assert isinstance(plan, ManualBooking) and "per-line rounding" in plan.reason


def test_untaxed_charges_and_missing_lines_are_booked_at_zero_or_from_the_totals() -> None:
    shipping = plan_checkout(paid_checkout(amount_total=13470))  # 5.00 untaxed on top of the lines
    assert isinstance(shipping, CheckoutSale)
    assert shipping.lines[-1].rate == 0 and shipping.lines[-1].net == 500
    assert sum(line.gross for line in shipping.lines) == 13470

    no_lines = plan_checkout(paid_checkout(line_items=None, amount_total=11900, amount_tax=1900))
    assert isinstance(no_lines, CheckoutSale)
    assert [(line.rate, line.net, line.tax) for line in no_lines.lines] == [(19, 10000, 1900)]


def test_what_cannot_be_invoiced_automatically_says_why() -> None:
    cases = {
        "currency USD: Lexoffice books only EUR": paid_checkout(currency="usd"),
        "the invoice's taxes add up to 1970, not its total_tax 1971": paid_checkout(amount_tax=1971),
        "the taxed amounts exceed the invoice total 12000": paid_checkout(amount_total=12000),
        "a guest checkout without a billing country (Lexoffice's one-time address needs one)": paid_checkout(
            customer_id=None, customer=None
        ),
    }
    for reason, event in cases.items():
        assert plan_checkout(event) == ManualBooking(reason)
    odd_rate = plan_checkout(paid_checkout(line_items=(line("Kurs", 1, 1000, 100),), amount_total=1100, amount_tax=100))
    assert isinstance(odd_rate, ManualBooking) and "not 19, 7 or 0 %" in odd_rate.reason


def test_path_2_invoices_only_sales_with_german_vat_and_leaves_other_tax_types_to_a_human() -> None:
    policy = TaxPolicy(CategoryNames(domestic="Dienstleistungen"))
    assert tax_rule(paid_checkout(), policy) is None, "taxed in Germany: gross"
    untaxed: dict[str, Any] = {"amount_tax": 0, "amount_total": 11000, "line_items": None}
    assert tax_rule(paid_checkout(**untaxed), policy) is None, "an untaxed domestic sale: gross at 0 %"
    business = CustomerDetails(
        email="ops@example.fr", address=Address(country="FR"), tax_ids=(TaxId(type="eu_vat", value="FR123"),)
    )
    reverse = tax_rule(paid_checkout(customer=business, **untaxed), policy)
    assert reverse == ManualBooking(
        "tax type externalService13b: checkout invoices are issued with German VAT (gross) only"
    )
    consumer = CustomerDetails(email="eve@example.fr", address=Address(country="FR"))
    assert tax_rule(paid_checkout(customer=consumer, **untaxed), policy) == ManualBooking(
        "an untaxed sale to FR without a VAT id: VAT was due, or the id is missing"
    )
    small = TaxPolicy(CategoryNames(domestic="Dienstleistungen"), small_business=True)
    vatfree = tax_rule(paid_checkout(**untaxed), small)
    assert isinstance(vatfree, ManualBooking) and "vatfree" in vatfree.reason
