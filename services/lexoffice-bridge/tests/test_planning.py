"""What a paid invoice becomes: the voucher's items per tax rate, or the reason a human must book it."""

from __future__ import annotations

from datetime import UTC, datetime

from intplat_common.events import InvoiceTax
from lexoffice_bridge.planning import ManualBooking, SalePlan, TaxGroup, category_for, plan_sale, voucher_body
from lexoffice_bridge.taxes import CategoryNames, TaxPolicy

from .conftest import paid_invoice

POLICY = TaxPolicy(CategoryNames(domestic="Dienstleistungen"))


def test_items_per_rate_add_up_to_the_total() -> None:
    plan = plan_sale(paid_invoice("INV-1"), POLICY)
    assert isinstance(plan, SalePlan)
    assert plan.groups == (TaxGroup("19", 10000, 1900), TaxGroup("7", 1000, 70))
    body = voucher_body(plan, contact_id="c-1", category_id="cat")
    assert body["voucherNumber"] == "INV-1" and body["taxType"] == "gross"
    assert body["totalGrossAmount"] == sum(item["amount"] for item in body["voucherItems"]) == 129.7
    assert SalePlan.from_payload(plan.payload()) == plan
    assert plan.tax_type == "net", "Stripe's taxes are exclusive"


def test_what_no_tax_covers_is_a_zero_rate_item() -> None:
    taxes = (InvoiceTax(amount=1900, taxable_amount=10000, percentage="19.0"),)
    plan = plan_sale(paid_invoice(taxes=taxes, total_tax=1900, total=12400), POLICY)
    assert isinstance(plan, SalePlan)
    assert plan.groups == (TaxGroup("19", 10000, 1900), TaxGroup("0", 500, 0))


def test_no_taxes_is_one_zero_rate_item() -> None:
    plan = plan_sale(paid_invoice(taxes=(), total_tax=0, total=5000), POLICY)
    assert isinstance(plan, SalePlan)
    assert plan.groups == (TaxGroup("0", 5000, 0),)


def test_what_cannot_be_booked_automatically_says_why() -> None:
    assert plan_sale(paid_invoice(currency="chf"), POLICY) == ManualBooking("currency CHF: Lexoffice books only EUR")
    mismatch = plan_sale(paid_invoice(total_tax=2000), POLICY)
    assert isinstance(mismatch, ManualBooking) and "total_tax 2000" in mismatch.reason
    too_much = plan_sale(paid_invoice(total=100), POLICY)
    assert isinstance(too_much, ManualBooking) and "exceed" in too_much.reason
    no_rate = plan_sale(paid_invoice(taxes=(InvoiceTax(amount=1970, taxable_amount=11000),)), POLICY)
    assert isinstance(no_rate, ManualBooking)


def test_a_tax_rate_named_by_id_only_is_the_german_rate_that_gives_its_amount() -> None:
    # As Stripe's webhooks send it: `tax_rate_details.tax_rate` is an id, so the event has no percentage.
    taxes = (
        InvoiceTax(amount=1900, taxable_amount=10000, tax_rate_id="txr_19"),
        InvoiceTax(amount=70, taxable_amount=1000, tax_rate_id="txr_7"),
    )
    plan = plan_sale(paid_invoice(taxes=taxes), POLICY)
    assert isinstance(plan, SalePlan)
    assert plan.groups == (TaxGroup("19", 10000, 1900), TaxGroup("7", 1000, 70))
    ten_percent = (InvoiceTax(amount=1000, taxable_amount=10000, tax_rate_id="txr_10"),)
    refused = plan_sale(paid_invoice(taxes=ten_percent, total_tax=1000, total=11000), POLICY)
    assert isinstance(refused, ManualBooking) and "not 19, 7 or 0 %" in refused.reason


def test_the_voucher_date_is_the_german_day_of_payment() -> None:
    late = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # already 1 April in Berlin
    plan = plan_sale(paid_invoice(paid_at=late), POLICY)
    assert isinstance(plan, SalePlan) and plan.voucher_date == "2026-04-01"


def test_the_posting_category_is_found_by_name_among_income_categories() -> None:
    categories = [
        {"id": "out", "name": "Dienstleistungen", "type": "outgo"},
        {"id": "in", "name": "Dienstleistungen", "type": "income"},
    ]
    assert category_for(categories, "Dienstleistungen") == "in"
    assert category_for(categories, "Warenverkäufe") is None
