"""Invoices and credit notes (reference §3 Invoices, Credit notes): validation and the server-computed totals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ._time import parse_timestamp
from ._validation import NOTNULL, Checker

TAX_TYPES = frozenset(
    {
        "net",
        "gross",
        "vatfree",
        "intraCommunitySupply",
        "constructionService13b",
        "externalService13b",
        "thirdPartyCountryService",
        "thirdPartyCountryDelivery",
        "photovoltaicEquipment",
    }
)
# The reference leaves photovoltaicEquipment's vat-free status open; like the contract, no rule is applied to it.
VAT_FREE_TYPES = frozenset(
    {
        "vatfree",
        "intraCommunitySupply",
        "constructionService13b",
        "externalService13b",
        "thirdPartyCountryService",
        "thirdPartyCountryDelivery",
    }
)
TAX_RATES = frozenset({Decimal(0), Decimal(7), Decimal(19)})
# Germany's temporary VAT cut (1 July to 31 December 2020): 5 and 16 % instead of 7 and 19 %.
REDUCED_PERIOD = (date(2020, 7, 1), date(2020, 12, 31))
REDUCED_TAX_RATES = frozenset({Decimal(0), Decimal(5), Decimal(16)})
SHIPPING_TYPES = frozenset({"service", "serviceperiod", "delivery", "deliveryperiod", "none"})
ITEM_TYPES = frozenset({"custom", "service", "material", "text"})
MAX_LINE_ITEMS = 300
TEXT_LIMITS = {"title": 25, "introduction": 2000, "remark": 2000}
CENT = Decimal("0.01")
READ_ONLY = ("id", "version", "voucherStatus", "voucherNumber", "organizationId", "createdDate", "updatedDate")


def _round(value: Decimal, step: Decimal = CENT) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


def validate_sales_document(body: dict[str, Any], *, credit_note: bool, customer_exists: Callable[[str], bool]) -> None:
    """406 (regular envelope, `details[].field` paths) for the rules the reference states."""
    check = Checker(missing_key=NOTNULL, invalid_key="INVALID")
    if parse_timestamp(body.get("voucherDate")) is None:
        check.missing("voucherDate") if body.get("voucherDate") is None else check.invalid("voucherDate", "Format")
    address = body.get("address")
    contact_id = address.get("contactId") if isinstance(address, dict) else None
    if not isinstance(address, dict):
        check.missing("address")
    elif contact_id is not None:
        if not customer_exists(str(contact_id)):
            check.invalid("address.contactId", "Kontakt ist kein Kunde")
    else:
        check.present(address, "name", "address.")
        check.present(address, "countryCode", "address.")
    tax_type = (body.get("taxConditions") or {}).get("taxType")
    if tax_type not in TAX_TYPES:
        check.missing("taxConditions.taxType") if tax_type is None else check.invalid("taxConditions.taxType")
    if tax_type in VAT_FREE_TYPES - {"vatfree"} and contact_id is None:
        check.missing("address.contactId", "für diese Steuerart ist ein Kontakt nötig")
    if (body.get("totalPrice") or {}).get("currency") != "EUR":
        check.invalid("totalPrice.currency", "nur EUR")
    _check_items(check, body.get("lineItems"), tax_type, valid_rates(body))
    if not credit_note:
        _check_shipping(check, body.get("shippingConditions"))
    for name, limit in TEXT_LIMITS.items():
        if len(str(body.get(name) or "")) > limit:
            check.invalid(name, f"höchstens {limit} Zeichen")
    check.raise_if_any()


def valid_rates(body: dict[str, Any]) -> frozenset[Decimal]:
    """The rates valid on the relevant date: the shipping end date for periods, the shipping date, or the voucher
    date when there is no shipping (reference §3 Tax rates)."""
    shipping = body.get("shippingConditions") or {}
    relevant = None
    for moment in (shipping.get("shippingEndDate"), shipping.get("shippingDate"), body.get("voucherDate")):
        if (parsed := parse_timestamp(moment)) is not None:
            relevant = parsed.date()
            break
    if relevant is not None and REDUCED_PERIOD[0] <= relevant <= REDUCED_PERIOD[1]:
        return REDUCED_TAX_RATES
    return TAX_RATES


def _check_items(check: Checker, items: Any, tax_type: Any, rates: frozenset[Decimal]) -> None:
    if not isinstance(items, list) or not items:
        check.missing("lineItems")
        return
    if len(items) > MAX_LINE_ITEMS:
        check.invalid("lineItems", f"höchstens {MAX_LINE_ITEMS} Positionen")
    for index, item in enumerate(items):
        where = f"lineItems[{index}]."
        kind = item.get("type")
        if kind not in ITEM_TYPES:
            check.invalid(f"{where}type")
            continue
        check.present(item, "name", where)
        if len(str(item.get("name") or "")) > 255 or len(str(item.get("description") or "")) > 2000:
            check.invalid(f"{where}name", "Text zu lang")
        if kind == "text":
            continue
        if kind in ("service", "material"):
            check.present(item, "id", where)
        check.amount(item.get("quantity"), f"{where}quantity")
        price = item.get("unitPrice")
        if not isinstance(price, dict):
            check.missing(f"{where}unitPrice")
            continue
        if price.get("currency") != "EUR":
            check.invalid(f"{where}unitPrice.currency", "nur EUR")
        amount_field = "grossAmount" if tax_type == "gross" else "netAmount"
        check.amount(price.get(amount_field), f"{where}unitPrice.{amount_field}")
        rate = check.amount(price.get("taxRatePercentage"), f"{where}unitPrice.taxRatePercentage")
        if rate is not None and rate not in rates:
            check.invalid(f"{where}unitPrice.taxRatePercentage", "ungültiger Steuersatz")
        if rate is not None and rate != 0 and tax_type in VAT_FREE_TYPES:
            check.invalid(f"{where}unitPrice.taxRatePercentage", "muss 0 sein")


def _check_shipping(check: Checker, shipping: Any) -> None:
    if not isinstance(shipping, dict):
        check.missing("shippingConditions")
        return
    kind = shipping.get("shippingType")
    if kind not in SHIPPING_TYPES:
        check.missing("shippingConditions.shippingType") if kind is None else check.invalid(
            "shippingConditions.shippingType"
        )
        return
    required = [] if kind == "none" else ["shippingDate"]
    if kind.endswith("period"):
        required.append("shippingEndDate")
    for name in required:
        if parse_timestamp(shipping.get(name)) is None:
            check.missing(f"shippingConditions.{name}")


def with_computed_totals(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the server keeps it: read-only fields dropped, item amounts, totals and `taxAmounts` computed
    (net mode: tax per rate on the net sum; gross mode: tax per rate extracted from the gross sum)."""
    document = {k: v for k, v in body.items() if k not in READ_ONLY}
    gross_mode = (document.get("taxConditions") or {}).get("taxType") == "gross"
    per_rate: dict[Decimal, Decimal] = {}
    items = []
    for item in document.get("lineItems") or []:
        item = dict(item)
        if item.get("type") != "text":
            price = dict(item["unitPrice"])
            rate = Decimal(str(price["taxRatePercentage"]))
            factor = 1 + rate / 100
            if gross_mode:
                gross = Decimal(str(price["grossAmount"]))
                price["netAmount"] = float(_round(gross / factor, Decimal("0.0001")))
            else:
                net = Decimal(str(price["netAmount"]))
                gross = net * factor
                price["grossAmount"] = float(_round(gross, Decimal("0.0001")))
            unit = Decimal(str(price["grossAmount" if gross_mode else "netAmount"]))
            discount = 1 - Decimal(str(item.get("discountPercentage") or 0)) / 100
            line_amount = _round(Decimal(str(item["quantity"])) * unit * discount)
            item["unitPrice"] = price
            item["lineItemAmount"] = float(line_amount)
            per_rate[rate] = per_rate.get(rate, Decimal(0)) + line_amount
        items.append(item)
    document["lineItems"] = items
    tax_amounts = []
    for rate, amount in sorted(per_rate.items()):
        tax = _round(amount * rate / (100 + rate)) if gross_mode else _round(amount * rate / 100)
        net = amount - tax if gross_mode else amount
        tax_amounts.append({"taxRatePercentage": float(rate), "taxAmount": float(tax), "netAmount": float(net)})
    total_net = sum((Decimal(str(t["netAmount"])) for t in tax_amounts), Decimal(0))
    total_tax = sum((Decimal(str(t["taxAmount"])) for t in tax_amounts), Decimal(0))
    document["totalPrice"] = {
        **(document.get("totalPrice") or {}),
        "totalNetAmount": float(total_net),
        "totalGrossAmount": float(total_net + total_tax),
        "totalTaxAmount": float(total_tax),
    }
    document["taxAmounts"] = tax_amounts
    return document
