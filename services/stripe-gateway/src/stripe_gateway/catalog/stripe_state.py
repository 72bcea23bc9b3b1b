"""What Stripe holds for the catalog, read with GET requests only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import stripe
from pydantic import BaseModel, ConfigDict, Field

from ..adapters.stripe_api import StripeApi
from .model import MANAGED_BY, Catalog, Recurring

if TYPE_CHECKING:
    from stripe.params import PriceListParams, ProductListParams

PAGE_SIZE = 100


class StripeProduct(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str | None = None
    active: bool = True
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def managed(self) -> bool:
        return self.metadata.get("managed_by") == MANAGED_BY


class StripePrice(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    product: str
    lookup_key: str | None = None
    unit_amount: int | None = None
    currency: str
    recurring: Recurring | None = None
    tax_behavior: str | None = None
    nickname: str | None = None
    active: bool = True
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def managed(self) -> bool:
        return self.metadata.get("managed_by") == MANAGED_BY


class StripeCatalogState(BaseModel):
    """What Stripe holds: products by id (active or not), active prices by lookup key, and every active price
    of a managed product (to find managed prices no catalog lookup key points at any more)."""

    products: dict[str, StripeProduct] = Field(default_factory=dict)
    prices: dict[str, StripePrice] = Field(default_factory=dict)
    managed_prices: list[StripePrice] = Field(default_factory=list)


def _product_from_api(product: stripe.Product) -> StripeProduct:
    data = product.to_dict()
    return StripeProduct(
        id=data["id"],
        name=data.get("name") or "",
        description=data.get("description"),
        active=bool(data.get("active", True)),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


def _price_from_api(price: stripe.Price) -> StripePrice:
    data = price.to_dict()
    product = data.get("product")
    recurring = data.get("recurring")
    return StripePrice(
        id=data["id"],
        product=product["id"] if isinstance(product, dict) else str(product),
        lookup_key=data.get("lookup_key"),
        unit_amount=data.get("unit_amount"),
        currency=data.get("currency") or "",
        recurring=(
            Recurring(interval=recurring["interval"], interval_count=recurring.get("interval_count") or 1)
            if recurring
            else None
        ),
        tax_behavior=data.get("tax_behavior"),
        nickname=data.get("nickname"),
        active=bool(data.get("active", True)),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


_Item = TypeVar("_Item", stripe.Product, stripe.Price)


async def _all_pages(fetch: Callable[[str | None], Awaitable[stripe.ListObject[_Item]]]) -> list[_Item]:
    items: list[_Item] = []
    starting_after: str | None = None
    while True:
        page = await fetch(starting_after)
        items.extend(page.data)
        if not page.has_more or not page.data:
            return items
        starting_after = page.data[-1].id


async def _list_products(api: StripeApi) -> list[stripe.Product]:
    async def fetch(starting_after: str | None) -> stripe.ListObject[stripe.Product]:
        params: ProductListParams = {"limit": PAGE_SIZE}
        if starting_after is not None:
            params["starting_after"] = starting_after
        return await api.client.v1.products.list_async(params)

    return await _all_pages(fetch)


async def _list_active_prices(api: StripeApi, *, product: str) -> list[stripe.Price]:
    async def fetch(starting_after: str | None) -> stripe.ListObject[stripe.Price]:
        params: PriceListParams = {"active": True, "product": product, "limit": PAGE_SIZE}
        if starting_after is not None:
            params["starting_after"] = starting_after
        return await api.client.v1.prices.list_async(params)

    return await _all_pages(fetch)


async def read_state(api: StripeApi, catalog: Catalog) -> StripeCatalogState:
    """Read every product, the active prices holding the catalog's lookup keys, and the active prices of
    managed products. Only GET requests."""
    products = {p.id: p for p in map(_product_from_api, await _list_products(api))}
    wanted = list(catalog.prices_by_lookup_key())
    prices = {key: _price_from_api(price) for key, price in (await api.active_prices(wanted)).items()}
    managed_prices: list[StripePrice] = []
    for product in products.values():
        if product.managed:
            found = map(_price_from_api, await _list_active_prices(api, product=product.id))
            managed_prices += [price for price in found if price.active and price.product == product.id]
    return StripeCatalogState(products=products, prices=prices, managed_prices=managed_prices)
