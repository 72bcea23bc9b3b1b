"""Which Lexoffice tax type a sale has, decided from what Stripe says (pure functions), and its posting category.

The reference's tax types (§3 Invoices, `taxConditions.taxType`): `net` / `gross` for a taxed sale (Stripe's tax
behaviour: exclusive → net, otherwise gross), `vatfree` for a small business (Kleinunternehmer), and for an untaxed
sale by where the customer is: `intraCommunitySupply` (goods to a business with a VAT id in another EU country),
`externalService13b` (reverse charge: services to such a business), `thirdPartyCountryService` /
`thirdPartyCountryDelivery` (outside the EU). What cannot be told from the event (an untaxed sale to an EU consumer,
reverse charge without a VAT id, rates that are not German ones, no country for an untaxed sale) needs a human: it is
never guessed. Bookkeeping vouchers only know `net` / `gross` (we book them gross, Stripe's exact totals): for them
the tax type chooses the posting category, one per tax type, by its name in `GET /v1/posting-categories`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from intplat_common.events import CheckoutCompleted, CustomerDetails, InvoicePaid, InvoiceTax

TaxType = Literal[
    "net",
    "gross",
    "vatfree",
    "intraCommunitySupply",
    "externalService13b",
    "thirdPartyCountryService",
    "thirdPartyCountryDelivery",
]
Supply = Literal["service", "goods"]

HOME_COUNTRY = "DE"
# The EU member states, ISO 3166-1 alpha-2 (Stripe writes Greece as GR).
EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()  # noqa: SIM905
)
GERMAN_RATES = frozenset({Decimal(0), Decimal(7), Decimal(19)})


@dataclass(frozen=True)
class TaxFacts:
    """What a Stripe sale says about its taxes and its customer."""

    country: str | None  # the billing address's ISO code
    vat_ids: tuple[str, ...]  # the customer's EU VAT ids
    tax_exempt: str | None  # Stripe's customer tax_exempt: none, exempt, reverse
    total_tax: int
    rates: tuple[Decimal, ...] = ()  # the percentages of the taxes charged
    behaviours: frozenset[str] = frozenset()  # exclusive / inclusive
    reverse_charge: bool = False  # a tax line's taxability_reason says reverse_charge


@dataclass(frozen=True)
class Undecidable:
    reason: str


def facts_of(customer: CustomerDetails | None, taxes: Sequence[InvoiceTax], total_tax: int) -> TaxFacts:
    """The facts of any Stripe sale: its customer details, its tax lines and its tax total."""
    address = customer.address if customer is not None else None
    country = address.country.upper() if address is not None and address.country else None
    vat_ids = tuple(t.value for t in (customer.tax_ids if customer else ()) if t.type == "eu_vat")
    return TaxFacts(
        country=country,
        vat_ids=vat_ids,
        tax_exempt=customer.tax_exempt if customer is not None else None,
        total_tax=total_tax,
        rates=tuple(Decimal(t.percentage).normalize() for t in taxes if t.percentage is not None and t.amount),
        behaviours=frozenset(t.tax_behavior for t in taxes if t.tax_behavior is not None),
        reverse_charge=any(t.taxability_reason == "reverse_charge" for t in taxes),
    )


def facts_of_invoice(event: InvoicePaid) -> TaxFacts:
    return facts_of(event.customer, event.taxes, event.total_tax)


def facts_of_checkout(event: CheckoutCompleted) -> TaxFacts:
    """A checkout names no tax rates (its line items carry only tax amounts): a taxed one is `gross`, the amounts
    Stripe charged."""
    return facts_of(event.customer, (), event.amount_tax or 0)


def decide(facts: TaxFacts, *, supply: Supply = "service", small_business: bool = False) -> TaxType | Undecidable:
    """The tax type of a sale, or why a human must decide it."""
    if small_business:
        if facts.total_tax:
            return Undecidable("a small business (Kleinunternehmer) charges no VAT, but Stripe charged tax")
        return "vatfree"
    if facts.total_tax:
        foreign = sorted(format(rate, "f") for rate in facts.rates if rate not in GERMAN_RATES)
        if foreign:
            return Undecidable(f"tax rate(s) {', '.join(foreign)} % are not German rates (OSS destination principle)")
        if facts.reverse_charge or facts.tax_exempt == "reverse":
            return Undecidable("reverse charge, yet Stripe charged tax")
        return "net" if facts.behaviours == {"exclusive"} else "gross"
    return _untaxed(facts, supply)


def _untaxed(facts: TaxFacts, supply: Supply) -> TaxType | Undecidable:
    country = facts.country
    reverse = facts.reverse_charge or facts.tax_exempt == "reverse"
    if country is None:
        return Undecidable("an untaxed sale without a billing country: its tax type cannot be told")
    if country == HOME_COUNTRY:
        if reverse:
            return Undecidable("reverse charge for a customer in Germany")
        return "gross"  # a domestic sale Stripe charged no tax on: booked at 0 % as before
    if country in EU_COUNTRIES:
        if not facts.vat_ids:
            return Undecidable(f"an untaxed sale to {country} without a VAT id: VAT was due, or the id is missing")
        return "intraCommunitySupply" if supply == "goods" else "externalService13b"
    return "thirdPartyCountryDelivery" if supply == "goods" else "thirdPartyCountryService"


def rates_allowed(tax_type: TaxType, rates: Sequence[str]) -> Undecidable | None:
    """Vat-free types book only 0 % (reference: `taxRatePercentage` must be 0 for vat-free types)."""
    if tax_type in ("net", "gross"):
        return None
    taxed = sorted({r for r in rates if Decimal(r) != 0})
    return Undecidable(f"{tax_type} books only 0 %, not {', '.join(taxed)} %") if taxed else None


@dataclass(frozen=True)
class CategoryNames:
    """The income posting category (its name) per kind of tax type. None: not configured, so such a sale is
    booked manually (the reference names no category for these; the organisation's chart decides)."""

    domestic: str
    intra_community: str | None = None
    reverse_charge: str | None = None
    third_country: str | None = None

    def name_for(self, tax_type: TaxType) -> str | None:
        if tax_type == "intraCommunitySupply":
            return self.intra_community
        if tax_type == "externalService13b":
            return self.reverse_charge
        if tax_type in ("thirdPartyCountryService", "thirdPartyCountryDelivery"):
            return self.third_country
        return self.domestic


@dataclass(frozen=True)
class TaxPolicy:
    """The organisation's side of the decision: its posting categories, what it sells, whether it is small."""

    categories: CategoryNames
    supply: Supply = "service"
    small_business: bool = False

    def tax_type(self, facts: TaxFacts, rates: Sequence[str]) -> TaxType | Undecidable:
        """The sale's tax type when it can be booked with a configured category, else why not."""
        decided = decide(facts, supply=self.supply, small_business=self.small_business)
        if isinstance(decided, Undecidable):
            return decided
        refused = rates_allowed(decided, rates)
        if refused is not None:
            return refused
        if self.categories.name_for(decided) is None:
            return Undecidable(f"no posting category configured for {decided} sales")
        return decided
