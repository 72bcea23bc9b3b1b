"""`rotate-credentials`: the service command around `rotate_credentials` (docs/foundation.md, "Rotation")."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from typing import Any

from .._db import create_pool
from ..service import Command
from ._rotation import RotationReport, rotate_credentials
from ._settings import CredentialSettings
from ._table import EncryptedColumns


def rotate_credentials_command(columns: EncryptedColumns | None = None) -> Command[Any]:
    """For `Service.commands` of a service whose settings are `CredentialSettings`: prints the `RotationReport` as
    JSON; exit status 1 while rows remain on other keys (a writer still on an old key: deploy, then run again)."""

    def run(args: argparse.Namespace, settings: Any) -> int:
        if not isinstance(settings, CredentialSettings):
            raise TypeError(f"rotate-credentials needs CredentialSettings, not {type(settings).__name__}")
        report = asyncio.run(_rotate(settings, columns or EncryptedColumns(), args.batch_size))
        print(json.dumps(dataclasses.asdict(report)))  # noqa: T201 - command output
        return 0 if report.remaining == 0 else 1

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="rows read per batch")

    return Command(
        name="rotate-credentials",
        help="re-encrypt every stored credential under the first of CREDENTIALS_ENCRYPTION_KEYS",
        run=run,
        configure=configure,
    )


async def _rotate(settings: CredentialSettings, columns: EncryptedColumns, batch_size: int) -> RotationReport:
    pool = await create_pool(settings.database_url)
    try:
        return await rotate_credentials(pool, columns, settings.credential_cipher(), batch_size=batch_size)
    finally:
        await pool.close()
