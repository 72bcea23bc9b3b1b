"""`make bench`: runs every benchmark against infrastructure it starts itself; results in bench/results/."""

from __future__ import annotations

import argparse
import asyncio
import sys

from . import (
    instagram_day,
    lexoffice_burst,
    notifier_backlog,
    notifier_recovery,
    outbox_relay,
    scaling,
    webhook_gateway,
)

BENCHMARKS = {
    "outbox_relay": outbox_relay.main,
    "webhook_gateway": webhook_gateway.main,
    "notifier_backlog": notifier_backlog.main,
    "notifier_recovery": notifier_recovery.main,
    "lexoffice_burst": lexoffice_burst.main,
    "instagram_day": instagram_day.main,
    "scaling": scaling.main,
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("names", nargs="*", help="run only these: " + ", ".join(BENCHMARKS))
    args = parser.parse_args()
    for name in args.names or list(BENCHMARKS):
        print(f"== {name}", flush=True)
        asyncio.run(BENCHMARKS[name]())
    return 0


if __name__ == "__main__":
    sys.exit(main())
