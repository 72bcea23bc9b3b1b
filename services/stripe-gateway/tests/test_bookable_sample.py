"""`make demo`'s invoice for Lexoffice (`samples.bookable_invoice`): two German VAT rates the gateway maps with their
percentages, in both layouts, adding up to the invoice's tax and total (what the bridge needs to book it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from intplat_devstack.samples import bookable_invoice

from intplat_common.events import InvoicePaid

from .test_mapping import INVOICE, both_layouts, map_dict, stripe_event


@both_layouts
def test_the_demo_invoice_carries_19_and_7_percent(objects: dict[str, dict[str, Any]], legacy: bool) -> None:
    invoice = bookable_invoice(
        objects[INVOICE], invoice_id="in_1DemoBook", number="DEMO-BOOK-1", customer_id="cus_demo_book"
    )

    mapped = map_dict(stripe_event(INVOICE, invoice, legacy=legacy))

    assert isinstance(mapped, InvoicePaid)
    assert (mapped.invoice_id, mapped.invoice_number, mapped.customer_id) == (
        "in_1DemoBook",
        "DEMO-BOOK-1",
        "cus_demo_book",
    )
    assert mapped.currency == "eur"
    assert [(tax.percentage, tax.taxable_amount, tax.amount) for tax in mapped.taxes] == [
        (Decimal(19), 2000, 380),
        (Decimal(7), 1000, 70),
    ]
    assert (mapped.subtotal, mapped.total_tax, mapped.total) == (3000, 450, 3450)
    assert [line.amount for line in mapped.lines] == [2000, 1000]
    assert mapped.invoice_pdf_url == "https://pay.stripe.com/invoice/acct_1Demo/test_in_1DemoBook/pdf"
    assert mapped.payment_intent_id == "pi_3DemoInvoice"
