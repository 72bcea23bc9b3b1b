"""The tax type of a sale, per case of the reference, decided from what Stripe says; never guessed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from intplat_common.events import Address, CheckoutCompleted, CustomerDetails, InvoiceTax, TaxId
from lexoffice_bridge.planning import ManualBooking, SalePlan, plan_sale
from lexoffice_bridge.taxes import (
    CategoryNames,
    Supply,
    TaxFacts,
    TaxPolicy,
    Undecidable,
    decide,
    facts_of,
    facts_of_checkout,
    rates_allowed,
)

from .conftest import paid_invoice

ALL_CATEGORIES = CategoryNames(
    domestic="Dienstleistungen", intra_community="EU-Lieferung", reverse_charge="13b", third_country="Drittland"
)


def customer(country: str | None, *, vat: str | None = None, exempt: str | None = None) -> CustomerDetails:
    tax_ids = (TaxId(type="eu_vat", value=vat),) if vat else ()
    address = Address(country=country) if country else None
    return CustomerDetails(email="x@example.com", address=address, tax_ids=tax_ids, tax_exempt=exempt)


def taxed(percentage: str, behaviour: str = "exclusive", reason: str | None = None) -> InvoiceTax:
    return InvoiceTax(
        amount=1900,
        taxable_amount=10000,
        percentage=percentage,
        tax_behavior=behaviour,
        taxability_reason=reason,
    )


def untaxed(reason: str | None = None) -> tuple[InvoiceTax, ...]:
    return (InvoiceTax(amount=0, taxable_amount=10000, percentage="0", taxability_reason=reason),)


@pytest.mark.parametrize(
    ("details", "taxes", "supply", "expected"),
    [
        (customer("DE"), (taxed("19"),), "service", "net"),
        (customer("DE"), (taxed("19", "inclusive"),), "service", "gross"),
        (customer("AT"), (taxed("19"),), "service", "net"),  # an EU consumer taxed at German rates (origin)
        (customer("DE"), untaxed(), "service", "gross"),  # a domestic sale without tax: 0 % as before
        (customer("FR", vat="FR40303265045"), untaxed("reverse_charge"), "service", "externalService13b"),
        (customer("FR", vat="FR40303265045", exempt="reverse"), (), "service", "externalService13b"),
        (customer("NL", vat="NL123456789B01"), untaxed(), "goods", "intraCommunitySupply"),
        (customer("US"), untaxed(), "service", "thirdPartyCountryService"),
        (customer("CH", exempt="exempt"), (), "goods", "thirdPartyCountryDelivery"),
    ],
)
def test_the_tax_type_per_case(
    details: CustomerDetails, taxes: tuple[InvoiceTax, ...], supply: Supply, expected: str
) -> None:
    total_tax = sum(t.amount for t in taxes)
    assert decide(facts_of(details, taxes, total_tax), supply=supply) == expected


@pytest.mark.parametrize(
    ("details", "taxes", "reason"),
    [
        (customer("FR"), untaxed(), "an untaxed sale to FR without a VAT id"),
        (customer(None), untaxed(), "without a billing country"),
        (customer("AT"), (taxed("20"),), "tax rate(s) 20 % are not German rates"),
        (customer("FR", vat="FR40303265045"), (taxed("19", reason="reverse_charge"),), "reverse charge, yet"),
        (customer("DE", exempt="reverse"), (), "reverse charge for a customer in Germany"),
    ],
)
def test_what_the_event_cannot_tell_is_never_guessed(
    details: CustomerDetails, taxes: tuple[InvoiceTax, ...], reason: str
) -> None:
    decided = decide(facts_of(details, taxes, sum(t.amount for t in taxes)))
    assert isinstance(decided, Undecidable) and reason in decided.reason


def test_a_small_business_books_vatfree_and_refuses_charged_tax() -> None:
    facts = TaxFacts(country="DE", vat_ids=(), tax_exempt=None, total_tax=0)
    assert decide(facts, small_business=True) == "vatfree"
    charged = TaxFacts(country="DE", vat_ids=(), tax_exempt=None, total_tax=190, rates=(Decimal(19),))
    assert isinstance(decide(charged, small_business=True), Undecidable)


def test_vat_free_types_book_only_zero_rates() -> None:
    assert rates_allowed("externalService13b", ["0"]) is None
    assert rates_allowed("net", ["19", "7"]) is None
    refused = rates_allowed("thirdPartyCountryService", ["19", "0"])
    assert refused is not None and "not 19 %" in refused.reason


def test_the_posting_category_follows_the_tax_type() -> None:
    assert ALL_CATEGORIES.name_for("net") == ALL_CATEGORIES.name_for("vatfree") == "Dienstleistungen"
    assert ALL_CATEGORIES.name_for("intraCommunitySupply") == "EU-Lieferung"
    assert ALL_CATEGORIES.name_for("externalService13b") == "13b"
    assert ALL_CATEGORIES.name_for("thirdPartyCountryDelivery") == "Drittland"
    assert CategoryNames(domestic="Dienstleistungen").name_for("thirdPartyCountryService") is None


def test_a_paid_invoice_carries_its_tax_type_or_needs_manual_booking() -> None:
    us = paid_invoice(
        customer=customer("US"), taxes=untaxed(), total_tax=0, total=10000, amount_due=10000, amount_paid=10000
    )
    plan = plan_sale(us, TaxPolicy(ALL_CATEGORIES))
    assert isinstance(plan, SalePlan) and plan.tax_type == "thirdPartyCountryService"
    assert plan_sale(us, TaxPolicy(CategoryNames(domestic="Dienstleistungen"))) == ManualBooking(
        "no posting category configured for thirdPartyCountryService sales"
    )


def test_a_checkouts_tax_type_for_the_lexoffice_invoice_of_path_2() -> None:
    checkout = CheckoutCompleted(
        stripe_event_id="evt_1", stripe_api_version="2025-03-31.basil", stripe_created=datetime(2026, 3, 1, tzinfo=UTC),
        livemode=False, checkout_session_id="cs_1", mode="payment", status="complete", payment_status="paid",
        customer=customer("US"), currency="eur", amount_total=5000, amount_tax=0,
    )  # fmt: skip
    policy = TaxPolicy(ALL_CATEGORIES)
    assert policy.tax_type(facts_of_checkout(checkout), ["0"]) == "thirdPartyCountryService"
    taxed = checkout.model_copy(update={"customer": customer("DE"), "amount_tax": 798})
    assert policy.tax_type(facts_of_checkout(taxed), ["19"]) == "gross"
