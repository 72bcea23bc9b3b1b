"""`lexoffice-bridge hash-password`: the hash of an admin user's password, for LEXOFFICE_BRIDGE_ADMIN_USERS."""

from __future__ import annotations

import argparse
import getpass
import sys

from intplat_common.credentials import hash_password
from intplat_common.service import Command

from ..settings import LexofficeBridgeSettings


def _run(args: argparse.Namespace, _settings: LexofficeBridgeSettings) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("password: ")
    if len(password) < 12:
        print("a password has at least 12 characters", file=sys.stderr)  # noqa: T201 - command output
        return 2
    print(f"{args.user}:{hash_password(password)}")  # noqa: T201 - command output
    return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user", help="the admin user's name")
    parser.add_argument("--stdin", action="store_true", help="read the password from standard input")


HASH_PASSWORD: Command[LexofficeBridgeSettings] = Command(
    name="hash-password",
    help="print `user:hash` for LEXOFFICE_BRIDGE_ADMIN_USERS (the password is asked for, never an argument)",
    run=_run,
    configure=_configure,
)
