"""`instagram-sync COMMAND`: serve, migrate, worker NAME, rotate-credentials."""

from __future__ import annotations

import sys

from intplat_common.service import run_cli

from .app import SERVICE


def run(argv: list[str] | None = None) -> int:
    return run_cli(SERVICE, argv)


if __name__ == "__main__":
    sys.exit(run())
