"""The product catalog: a versioned TOML file, synced to Stripe products and prices.

`sync` = `read_state` (what Stripe has, `stripe_state`) -> `plan` (pure diff, `planning`) -> `apply` (the writes, in
plan order, `applying`); `model` reads the file, `command` is `stripe-gateway catalog-sync`.

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

from .applying import apply, sync
from .command import configure_parser, run
from .model import (
    DEFAULT_CATALOG_FILE,
    MANAGED_BY,
    Catalog,
    CatalogConflictError,
    CatalogError,
    CatalogPrice,
    CatalogProduct,
    Plan,
    Recurring,
    load_catalog,
)
from .planning import Change, ChangeKind, plan
from .stripe_state import StripeCatalogState, StripePrice, StripeProduct, read_state

__all__ = [
    "DEFAULT_CATALOG_FILE",
    "MANAGED_BY",
    "Catalog",
    "CatalogConflictError",
    "CatalogError",
    "CatalogPrice",
    "CatalogProduct",
    "Change",
    "ChangeKind",
    "Plan",
    "Recurring",
    "StripeCatalogState",
    "StripePrice",
    "StripeProduct",
    "apply",
    "configure_parser",
    "load_catalog",
    "plan",
    "read_state",
    "run",
    "sync",
]
