"""Applying a plan to Stripe, each write under an idempotency key derived from the change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from ..adapters.stripe_api import StripeApi
from .model import Catalog, CatalogConflictError
from .planning import Change, plan
from .stripe_state import read_state

if TYPE_CHECKING:
    from stripe.params import PriceCreateParams, PriceUpdateParams, ProductCreateParams, ProductUpdateParams


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
