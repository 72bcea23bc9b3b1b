"""The plan: the writes that make Stripe match the catalog, derived without I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .model import MANAGED_BY, Catalog, CatalogConflictError, CatalogPrice, CatalogProduct, Recurring
from .stripe_state import StripeCatalogState, StripePrice

ChangeKind = Literal[
    "create_product", "update_product", "archive_product", "create_price", "update_price", "replace_price",
    "archive_price",
]  # fmt: skip


@dataclass(frozen=True)
class Change:
    """One write. `target` is the product id (product changes), the lookup key (create/update/replace price)
    or the price id (archive_price); `price_id` is the existing price that update/replace/archive acts on."""

    kind: ChangeKind
    target: str
    catalog_version: int
    params: dict[str, Any] = field(default_factory=dict)
    price_id: str | None = None
    detail: str = ""

    def describe(self) -> str:
        on = f" {self.price_id}" if self.price_id and self.price_id != self.target else ""
        return f"{self.kind} {self.target}{on}" + (f": {self.detail}" if self.detail else "")

    def idempotency_key(self, step: str = "") -> str:
        """Same change, same key: a retried run (or a retried request) replays Stripe's first answer."""
        request = json.dumps({"params": self.params, "price_id": self.price_id}, sort_keys=True, default=str)
        digest = hashlib.sha256(request.encode()).hexdigest()[:16]
        suffix = f"/{step}" if step else ""
        return f"{MANAGED_BY}/v{self.catalog_version}/{self.kind}/{self.target}/{digest}{suffix}"


def _product_metadata(catalog: Catalog, product: CatalogProduct) -> dict[str, str]:
    return {**product.metadata, "managed_by": MANAGED_BY, "catalog_version": str(catalog.version), "sku": product.sku}


def _price_params(catalog: Catalog, product: CatalogProduct, price: CatalogPrice) -> dict[str, Any]:
    params: dict[str, Any] = {
        "product": product.sku,
        "currency": price.currency,
        "unit_amount": price.unit_amount,
        "tax_behavior": price.tax_behavior,
        "lookup_key": price.lookup_key,
        # Also on plain creates: an archived price may still hold the key (a product removed, then re-added).
        "transfer_lookup_key": True,
        "metadata": {"managed_by": MANAGED_BY, "catalog_version": str(catalog.version), "sku": product.sku},
    }
    if price.nickname is not None:
        params["nickname"] = price.nickname
    if price.recurring is not None:
        params["recurring"] = {"interval": price.recurring.interval, "interval_count": price.recurring.interval_count}
    return params


def _immutable_differences(sku: str, want: CatalogPrice, have: StripePrice) -> list[str]:
    pairs: list[tuple[str, object, object]] = [
        ("product", have.product, sku),
        ("unit_amount", have.unit_amount, want.unit_amount),
        ("currency", have.currency, want.currency),
        ("recurring", _interval(have.recurring), _interval(want.recurring)),
        ("tax_behavior", have.tax_behavior, want.tax_behavior),
    ]
    return [f"{name} {old} -> {new}" for name, old, new in pairs if old != new]


def _interval(recurring: Recurring | None) -> str:
    if recurring is None:
        return "one_time"
    return recurring.interval if recurring.interval_count == 1 else f"{recurring.interval_count}x{recurring.interval}"


def plan(catalog: Catalog, current: StripeCatalogState) -> list[Change]:
    """The writes that make Stripe match the catalog, in the order to apply them: products, their prices,
    stale managed prices, then managed products that left the file. Pure: no I/O."""
    version = catalog.version
    products: list[Change] = []
    prices: list[Change] = []
    for product in catalog.products:
        metadata = _product_metadata(catalog, product)
        have = current.products.get(product.sku)
        if have is None:
            params: dict[str, Any] = {"id": product.sku, "name": product.name, "active": product.active}
            if product.description is not None:
                params["description"] = product.description
            params["metadata"] = metadata
            products.append(Change("create_product", product.sku, version, params, detail=product.name))
        else:
            if not have.managed:
                raise CatalogConflictError(
                    f"Stripe product {product.sku!r} exists but is not managed by the catalog "
                    f"(no metadata managed_by={MANAGED_BY}); rename the SKU or mark the product as managed"
                )
            update: dict[str, Any] = {}
            if have.name != product.name:
                update["name"] = product.name
            if have.description != product.description:
                update["description"] = product.description or ""  # "" unsets it
            if have.active != product.active:
                update["active"] = product.active
            if stale := {k: v for k, v in metadata.items() if have.metadata.get(k) != v}:
                update["metadata"] = stale
            if update:
                fields = ", ".join(sorted(update))
                products.append(Change("update_product", product.sku, version, update, detail=fields))
        for price in product.prices:
            prices += _plan_price(catalog, product, price, current.prices.get(price.lookup_key))

    catalog_keys = catalog.prices_by_lookup_key().keys()
    handled = {change.price_id for change in prices}
    archive_prices = [
        Change("archive_price", price.id, version, {"active": False}, price_id=price.id, detail="no longer in catalog")
        for price in sorted({p.id: p for p in current.managed_prices}.values(), key=lambda p: p.id)
        if price.managed and price.active and price.id not in handled and price.lookup_key not in catalog_keys
    ]
    skus = {product.sku for product in catalog.products}
    archive_products = [
        Change("archive_product", p.id, version, {"active": False}, detail="no longer in catalog")
        for p in sorted(current.products.values(), key=lambda p: p.id)
        if p.managed and p.active and p.id not in skus
    ]
    return [*products, *prices, *archive_prices, *archive_products]


def _plan_price(
    catalog: Catalog, product: CatalogProduct, price: CatalogPrice, have: StripePrice | None
) -> list[Change]:
    version = catalog.version
    params = _price_params(catalog, product, price)
    if have is None:
        return [Change("create_price", price.lookup_key, version, params, detail=_summary(price))]
    if not have.managed:
        raise CatalogConflictError(
            f"lookup_key {price.lookup_key!r} is held by price {have.id} (product {have.product}), "
            f"which is not managed by the catalog"
        )
    if differences := _immutable_differences(product.sku, price, have):
        return [Change("replace_price", price.lookup_key, version, params, have.id, "; ".join(differences))]
    if have.nickname != price.nickname:
        update = {"nickname": price.nickname or ""}
        return [Change("update_price", price.lookup_key, version, update, have.id, "nickname")]
    return []


def _summary(price: CatalogPrice) -> str:
    return f"{price.unit_amount} {price.currency} {_interval(price.recurring)}"
