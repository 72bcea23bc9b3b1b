"""The gateway's own commands, next to the kit's `serve`, `migrate` and `worker relay`.

stripe-gateway reconcile --since ISO      ingest events Stripe lists for a window (<= 30 days) never recorded
stripe-gateway refresh-ips                refresh the shipped list of Stripe's webhook source IPs
stripe-gateway catalog-sync [--dry-run]   make Stripe's products and prices match the catalog
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

import httpx

from intplat_common import create_pool, migrate, setup_telemetry
from intplat_common.service import Command

from . import catalog
from .adapters.stripe_api import StripeApi
from .ip_allowlist import IP_LIST, STRIPE_IP_LIST_URL
from .reconcile import reconcile
from .settings import GatewaySettings
from .storage import MIGRATIONS


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _reconcile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", required=True, type=_aware, help="ISO 8601 start, e.g. 2026-11-20T00:00:00Z")
    parser.add_argument("--until", type=_aware, default=None)


def _reconcile(args: argparse.Namespace, settings: GatewaySettings) -> int:
    return asyncio.run(_reconcile_window(settings, args.since, args.until))


async def _reconcile_window(settings: GatewaySettings, since: datetime, until: datetime | None) -> int:
    setup_telemetry(settings.service_name)
    await migrate(settings.database_url, MIGRATIONS)
    pool = await create_pool(settings.database_url)
    api = StripeApi(api_key=settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base)
    try:
        report = await reconcile(api, pool, since=since, until=until)
    finally:
        await api.close()
        await pool.close()
    print(json.dumps(report.__dict__))  # noqa: T201 - command output
    return 0


def _refresh_ips(_: argparse.Namespace, __: GatewaySettings) -> int:
    response = httpx.get(STRIPE_IP_LIST_URL, timeout=30)
    response.raise_for_status()
    document = response.json()
    if not document.get("WEBHOOKS"):
        print("unexpected document: no WEBHOOKS list", file=sys.stderr)  # noqa: T201
        return 1
    document["_source"] = STRIPE_IP_LIST_URL
    document["_fetched"] = datetime.now(UTC).isoformat(timespec="seconds")
    IP_LIST.write_text(json.dumps(document, indent=2) + "\n")
    print(f"{len(document['WEBHOOKS'])} addresses written to {IP_LIST}")  # noqa: T201
    return 0


COMMANDS: list[Command[GatewaySettings]] = [
    Command("reconcile", "ingest events Stripe lists (<= 30 days) never received", _reconcile, _reconcile_arguments),
    Command("refresh-ips", "refresh the shipped list of Stripe's webhook source IPs", _refresh_ips),
    Command(
        "catalog-sync",
        "make Stripe's products and prices match the catalog",
        catalog.run,
        catalog.configure_parser,
    ),
]
