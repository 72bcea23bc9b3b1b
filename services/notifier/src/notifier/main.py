"""The notifier's commands.

notifier serve      the HTTP service with the Kafka consumer and the sender loop (default)
notifier sender     the sender loop alone (run `serve` with NOTIFIER_EMBEDDED_SENDER=false beside it)
notifier migrate    apply database migrations and exit
"""

from __future__ import annotations

import argparse
import sys

import uvicorn
import uvloop

from intplat_common import configure_logging, freeze_startup_objects, upgrade_database

from .app import create_app, run_sender
from .settings import NotifierSettings
from .storage import MIGRATIONS


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="notifier", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve")
    sub.add_parser("migrate")
    sub.add_parser("sender")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    settings = NotifierSettings()
    configure_logging(settings.service_name, settings.log_level)
    if args.command == "migrate":
        upgrade_database(settings.database_url, MIGRATIONS)
        return 0
    if args.command == "sender":
        # uvloop, as uvicorn uses for the HTTP processes: less CPU per socket write and wakeup.
        uvloop.run(run_sender(settings))
        return 0
    app = create_app(settings)
    freeze_startup_objects()
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(run())
