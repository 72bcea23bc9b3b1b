"""The product catalog: a versioned TOML file, synced to Stripe products and prices.

`sync` = `read_state` (what Stripe has) -> `plan` (pure diff) -> `apply` (the writes, in plan order).

- The SKU is the Stripe product id; prices are found by `lookup_key`.
- Stripe prices cannot change amount, currency, interval or tax behaviour, so such an edit is a *replace*: a
  new price takes the lookup key over (`transfer_lookup_key`) and the old one is archived.
- Everything the sync creates carries `managed_by=intplat-catalog` metadata. Managed products that left the
  file are archived, as are managed prices no catalog lookup key points at; unmanaged objects are never
  written, and a catalog SKU or lookup key already held by an unmanaged object stops the plan.
- Every write sends an `Idempotency-Key` derived from the change (catalog version, kind, target and a digest
  of the request), so a retried run replays Stripe's first answer instead of creating a duplicate.
  Bump `version` with every edit of the file.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import tomllib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, cast

import stripe
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from intplat_common import setup_telemetry

from .adapters.stripe_api import StripeApi
from .settings import GatewaySettings

if TYPE_CHECKING:
    from stripe.params import (
        PriceCreateParams,
        PriceListParams,
        PriceUpdateParams,
        ProductCreateParams,
        ProductListParams,
        ProductUpdateParams,
    )

MANAGED_BY = "intplat-catalog"
DEFAULT_CATALOG_FILE = Path(__file__).resolve().parents[2] / "catalog" / "catalog.toml"
LOOKUP_KEYS_PER_REQUEST = 10  # Stripe's limit for `lookup_keys[]` on GET /v1/prices
PAGE_SIZE = 100
_RESERVED_METADATA = frozenset({"managed_by", "catalog_version", "sku"})
_CURRENCY = re.compile(r"[a-z]{3}")


class CatalogError(ValueError):
    """The catalog file cannot be read or is invalid."""


class CatalogConflictError(RuntimeError):
    """The catalog claims a SKU or lookup key that an object not managed by the catalog holds in Stripe."""


# --------------------------------------------------------------------------------------------- the file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Recurring(_Strict):
    interval: Literal["day", "week", "month", "year"]
    interval_count: StrictInt = Field(default=1, ge=1, le=365)


class CatalogPrice(_Strict):
    lookup_key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    nickname: str | None = Field(default=None, min_length=1, max_length=250)
    unit_amount: StrictInt = Field(gt=0, le=99_999_999, description="Minor units (cents).")
    currency: str
    recurring: Recurring | None = Field(default=None, description="Absent for a one-time price.")
    tax_behavior: Literal["exclusive", "inclusive", "unspecified"]

    @field_validator("currency")
    @classmethod
    def _lowercase_iso(cls, value: str) -> str:
        if not _CURRENCY.fullmatch(value):
            hint = f" (write {value.lower()!r})" if _CURRENCY.fullmatch(value.lower()) else ""
            raise ValueError(f"currency must be a lowercase three-letter ISO 4217 code such as 'eur'{hint}")
        return value


class CatalogProduct(_Strict):
    sku: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$", description="Also the Stripe product id.")
    name: str = Field(min_length=1, max_length=250)
    description: str | None = Field(default=None, min_length=1, max_length=1000)
    active: bool = True
    metadata: dict[str, str] = Field(default_factory=dict)
    prices: list[CatalogPrice] = Field(min_length=1)

    @field_validator("metadata")
    @classmethod
    def _own_metadata(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(_RESERVED_METADATA & value.keys())
        if reserved:
            raise ValueError(f"metadata keys {reserved} are set by the sync itself")
        if too_long := [key for key in value if len(key) > 40]:
            raise ValueError(f"metadata keys longer than 40 characters: {too_long}")
        return value


class Plan(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(min_length=1)
    prices: list[str] = Field(min_length=1, description="Recurring prices to subscribe with, one per interval.")
    one_time: list[str] = Field(default_factory=list, description="Optional one-time add-ons.")


class Catalog(_Strict):
    version: StrictInt = Field(ge=1)
    products: list[CatalogProduct] = Field(min_length=1)
    plans: list[Plan] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _no_duplicates("SKU", [p.sku for p in self.products])
        _no_duplicates("lookup_key", [price.lookup_key for p in self.products for price in p.prices])
        _no_duplicates("plan key", [plan.key for plan in self.plans])
        prices = self.prices_by_lookup_key()
        for plan in self.plans:
            for key in [*plan.prices, *plan.one_time]:
                if key not in prices:
                    raise ValueError(f"plan {plan.key!r} references unknown lookup_key {key!r}")
            if one_off := [key for key in plan.prices if prices[key].recurring is None]:
                raise ValueError(f"plan {plan.key!r}: `prices` must be recurring; move {one_off} to `one_time`")
            if recurring := [key for key in plan.one_time if prices[key].recurring is not None]:
                raise ValueError(f"plan {plan.key!r}: `one_time` prices must not recur: {recurring}")
        return self

    def prices_by_lookup_key(self) -> dict[str, CatalogPrice]:
        return {price.lookup_key: price for product in self.products for price in product.prices}


def _no_duplicates(what: str, values: Iterable[str]) -> None:
    duplicates = sorted(value for value, count in Counter(values).items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate {what}: {', '.join(map(repr, duplicates))}")


def load_catalog(path: Path | str) -> Catalog:
    """Read and validate a catalog file; every problem is reported as one `CatalogError`."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read catalog: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_location(error['loc'])}: {error['msg']}" for error in exc.errors())
        raise CatalogError(f"{path}: invalid catalog:\n{problems}") from exc


def _location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "catalog"


# --------------------------------------------------------------------------------------------- Stripe's side


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


async def _list_active_prices(
    api: StripeApi, *, lookup_keys: list[str] | None = None, product: str | None = None
) -> list[stripe.Price]:
    async def fetch(starting_after: str | None) -> stripe.ListObject[stripe.Price]:
        params: PriceListParams = {"active": True, "limit": PAGE_SIZE}
        if lookup_keys is not None:
            params["lookup_keys"] = lookup_keys
        if product is not None:
            params["product"] = product
        if starting_after is not None:
            params["starting_after"] = starting_after
        return await api.client.v1.prices.list_async(params)

    return await _all_pages(fetch)


async def read_state(api: StripeApi, catalog: Catalog) -> StripeCatalogState:
    """Read every product, the active prices holding the catalog's lookup keys, and the active prices of
    managed products. Only GET requests."""
    products = {p.id: p for p in map(_product_from_api, await _list_products(api))}
    wanted = list(catalog.prices_by_lookup_key())
    prices: dict[str, StripePrice] = {}
    for start in range(0, len(wanted), LOOKUP_KEYS_PER_REQUEST):
        chunk = wanted[start : start + LOOKUP_KEYS_PER_REQUEST]
        for price in map(_price_from_api, await _list_active_prices(api, lookup_keys=chunk)):
            # Filter again: a stand-in (stripe-mock) may ignore the filter and return fixtures.
            if price.active and price.lookup_key in chunk:
                prices[price.lookup_key] = price
    managed_prices: list[StripePrice] = []
    for product in products.values():
        if product.managed:
            found = map(_price_from_api, await _list_active_prices(api, product=product.id))
            managed_prices += [price for price in found if price.active and price.product == product.id]
    return StripeCatalogState(products=products, prices=prices, managed_prices=managed_prices)


# --------------------------------------------------------------------------------------------- the plan

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


# --------------------------------------------------------------------------------------------- applying


async def apply(api: StripeApi, changes: Sequence[Change], *, dry_run: bool) -> list[Change]:
    """Apply `changes` in order (or nothing when `dry_run`); returns the changes applied (or planned)."""
    if dry_run:
        return list(changes)
    applied: list[Change] = []
    for change in changes:
        await _apply_one(api, change)
        applied.append(change)
    return applied


async def _apply_one(api: StripeApi, change: Change) -> None:
    products = api.client.v1.products
    prices = api.client.v1.prices
    key = change.idempotency_key
    match change.kind:
        case "create_product":
            params = cast("ProductCreateParams", change.params)
            await products.create_async(params, {"idempotency_key": key()})
        case "update_product" | "archive_product":
            update = cast("ProductUpdateParams", change.params)
            await products.update_async(change.target, update, {"idempotency_key": key()})
        case "create_price":
            await _create_price(api, change, key())
        case "replace_price":
            await _create_price(api, change, key("create"))
            await prices.update_async(_price_id(change), {"active": False}, {"idempotency_key": key("archive")})
        case "update_price" | "archive_price":
            price_update = cast("PriceUpdateParams", change.params)
            await prices.update_async(_price_id(change), price_update, {"idempotency_key": key()})


async def _create_price(api: StripeApi, change: Change, idempotency_key: str) -> None:
    params = cast("PriceCreateParams", change.params)
    created = await api.client.v1.prices.create_async(params, {"idempotency_key": idempotency_key})
    if created.lookup_key != change.target or not created.active:
        # An idempotent replay of an older request (same version, same content, within 24 h) returns that
        # request's price, which may since have been archived or lost its key.
        raise CatalogConflictError(
            f"creating the price for {change.target!r} returned {created.id} (lookup_key={created.lookup_key!r}, "
            f"active={created.active}); bump the catalog version and sync again"
        )


def _price_id(change: Change) -> str:
    if change.price_id is None:
        raise ValueError(f"{change.kind} {change.target} needs the existing price id")
    return change.price_id


async def sync(api: StripeApi, catalog: Catalog, *, dry_run: bool = False) -> list[Change]:
    """Read Stripe, plan, apply. Returns the changes applied (or, with `dry_run`, those that would be)."""
    return await apply(api, plan(catalog, await read_state(api, catalog)), dry_run=dry_run)


# --------------------------------------------------------------------------------------------- CLI


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, default=DEFAULT_CATALOG_FILE, help="catalog TOML (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")


def run_command(args: argparse.Namespace, settings: GatewaySettings) -> int:
    """`stripe-gateway catalog-sync [--file PATH] [--dry-run]`: one line per change, then a summary."""
    try:
        catalog = load_catalog(args.file)
    except CatalogError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    setup_telemetry(settings.service_name)  # the Stripe calls are traced like the service's own
    try:
        changes = asyncio.run(_sync_once(settings, catalog, dry_run=args.dry_run))
    except (CatalogConflictError, stripe.StripeError) as exc:
        sys.stderr.write(f"catalog sync failed: {exc}\n")
        return 1
    for change in changes:
        sys.stdout.write(f"{'would ' if args.dry_run else ''}{change.describe()}\n")
    sys.stdout.write(_summary_line(catalog, changes, dry_run=args.dry_run) + "\n")
    return 0


async def _sync_once(settings: GatewaySettings, catalog: Catalog, *, dry_run: bool) -> list[Change]:
    api = StripeApi(api_key=settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base)
    try:
        return await sync(api, catalog, dry_run=dry_run)
    finally:
        await api.close()


def _summary_line(catalog: Catalog, changes: Sequence[Change], *, dry_run: bool) -> str:
    if not changes:
        return f"catalog v{catalog.version}: Stripe is up to date, no changes"
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    by_kind = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    verb = "planned (dry run, nothing written)" if dry_run else "applied"
    return f"catalog v{catalog.version}: {len(changes)} changes {verb}: {by_kind}"
