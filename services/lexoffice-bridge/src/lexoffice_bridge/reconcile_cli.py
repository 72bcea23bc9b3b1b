"""`lexoffice-bridge reconcile --month YYYY-MM [--json]`: the month's reconciliation report on stdout; exit code 1
when there is a mismatch (missing, duplicated, amount differs, manual), 0 when the books match Stripe."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Protocol

import asyncpg

from intplat_common import create_pool
from intplat_common.service import Command

from .ports import LexofficeApi
from .reconciliation import month_days, month_report, render_table
from .settings import LexofficeBridgeSettings


class WithLexoffice(Protocol):
    """What the command needs of the bridge's components (built as `serve` builds them; no worker is started)."""

    @property
    def lexoffice(self) -> LexofficeApi: ...

    async def aclose(self) -> None: ...


Build = Callable[[LexofficeBridgeSettings, asyncpg.Pool], WithLexoffice | Awaitable[WithLexoffice]]


def _month(value: str) -> str:
    try:
        month_days(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", required=True, type=_month, help="the month, YYYY-MM (German days)")
    parser.add_argument("--json", action="store_true", help="the report as JSON instead of a table")


def reconcile_command(build: Build) -> Command[LexofficeBridgeSettings]:
    def run(args: argparse.Namespace, settings: LexofficeBridgeSettings) -> int:
        return asyncio.run(_reconcile(build, settings, args.month, as_json=args.json))

    return Command(
        name="reconcile",
        help="compare the month's paid Stripe sales with their Lexoffice documents; exit 1 on a mismatch",
        run=run,
        configure=_configure,
    )


async def _reconcile(build: Build, settings: LexofficeBridgeSettings, month: str, *, as_json: bool) -> int:
    pool = await create_pool(settings.database_url)
    try:
        built = build(settings, pool)
        components = await built if isinstance(built, Awaitable) else built
        try:
            report = await month_report(pool, components.lexoffice, month)
        finally:
            await components.aclose()
    finally:
        await pool.close()
    print(json.dumps(report.as_json(), indent=2) if as_json else render_table(report))  # noqa: T201 - command output
    return 0 if report.ok else 1
