"""`stripe-gateway serve` (the HTTP service) and `stripe-gateway migrate` (apply migrations and exit)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from intplat_common import configure_logging, upgrade_database

from .app import create_app
from .settings import GatewaySettings
from .storage import MIGRATIONS


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stripe-gateway")
    parser.add_argument("command", choices=["serve", "migrate"], nargs="?", default="serve")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level)
    if args.command == "migrate":
        upgrade_database(settings.database_url, MIGRATIONS)
        return 0
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(run())
