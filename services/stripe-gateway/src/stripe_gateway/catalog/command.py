"""`stripe-gateway catalog-sync [--file PATH] [--dry-run]`: one line per change, then a summary."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import stripe

from intplat_common import setup_telemetry

from ..adapters.stripe_api import StripeApi
from ..settings import GatewaySettings
from .applying import sync
from .model import DEFAULT_CATALOG_FILE, Catalog, CatalogConflictError, CatalogError, load_catalog
from .planning import Change


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, default=DEFAULT_CATALOG_FILE, help="catalog TOML (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")


def run(args: argparse.Namespace, settings: GatewaySettings) -> int:
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
