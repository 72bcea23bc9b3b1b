"""The gateway's commands.

stripe-gateway serve                      the HTTP service (default)
stripe-gateway relay                      the outbox relay alone (with STRIPE_GATEWAY_EMBEDDED_RELAY=false)
stripe-gateway migrate                    apply database migrations and exit
stripe-gateway reconcile --since ISO      ingest events Stripe lists for a window (<= 30 days) never recorded
stripe-gateway refresh-ips                refresh the shipped list of Stripe's webhook source IPs
stripe-gateway catalog-sync [--dry-run]   make Stripe's products and prices match catalog/catalog.toml
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
import uvloop
from fastapi import FastAPI

from intplat_common import (
    configure_logging,
    create_pool,
    freeze_startup_objects,
    migrate,
    setup_telemetry,
    upgrade_database,
)

from .adapters.stripe_api import StripeApi
from .app import create_app, run_relay
from .catalog import catalog_sync_command
from .ip_allowlist import IP_LIST, STRIPE_IP_LIST_URL
from .reconcile import reconcile
from .settings import GatewaySettings
from .storage import MIGRATIONS


def run(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    if argv[:1] == ["catalog-sync"]:
        return catalog_sync_command(argv[1:])
    parser = argparse.ArgumentParser(
        prog="stripe-gateway", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve")
    sub.add_parser("migrate")
    sub.add_parser("relay")
    rec = sub.add_parser("reconcile")
    rec.add_argument("--since", required=True, type=_aware, help="ISO 8601 start, e.g. 2026-11-20T00:00:00Z")
    rec.add_argument("--until", type=_aware, default=None)
    sub.add_parser("refresh-ips")
    args = parser.parse_args(argv)
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level)
    command = args.command or "serve"
    if command == "migrate":
        upgrade_database(settings.database_url, MIGRATIONS)
        return 0
    if command == "relay":
        # uvloop, as uvicorn uses for the HTTP processes: less CPU per socket write and wakeup.
        uvloop.run(run_relay(settings))
        return 0
    if command == "reconcile":
        return asyncio.run(_reconcile(settings, args.since, args.until))
    if command == "refresh-ips":
        return _refresh_ips()
    if settings.workers > 1:
        # Each worker process builds its own app (and its own group-commit writer) from the environment.
        uvicorn.run(
            "stripe_gateway.main:app_from_environment",
            factory=True,
            workers=settings.workers,
            **_uvicorn_options(settings),
        )
    else:
        app = create_app(settings)
        freeze_startup_objects()
        uvicorn.run(app, **_uvicorn_options(settings))
    return 0


def _uvicorn_options(settings: GatewaySettings) -> dict[str, Any]:
    # No proxy-header rewriting by uvicorn: the webhook's source-IP policy reads X-Forwarded-For itself, and only
    # from the proxies configured as trusted (uvicorn would trust 127.0.0.1 and replace the client address first).
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
    }


def app_from_environment() -> FastAPI:
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level)
    app = create_app(settings)
    freeze_startup_objects()
    return app


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _reconcile(settings: GatewaySettings, since: datetime, until: datetime | None) -> int:
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


def _refresh_ips() -> int:
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


if __name__ == "__main__":
    sys.exit(run())
