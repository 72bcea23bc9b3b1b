"""instagram-sync's own commands, next to the kit's `serve`, `migrate` and `worker NAME`.

instagram-sync rotate-credentials   re-encrypt every stored token under the first CREDENTIALS_ENCRYPTION_KEYS key
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict

from intplat_common import create_pool, migrate
from intplat_common.credentials import EncryptedColumns, rotate_credentials
from intplat_common.service import Command

from .settings import InstagramSyncSettings
from .storage import MIGRATIONS


async def _rotate(settings: InstagramSyncSettings) -> int:
    await migrate(settings.database_url, MIGRATIONS)
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        report = await rotate_credentials(pool, EncryptedColumns(), settings.credential_cipher())
    finally:
        await pool.close()
    print(json.dumps(asdict(report)))  # noqa: T201 - command output
    return 0 if report.remaining == 0 else 1


def _run_rotate(_: argparse.Namespace, settings: InstagramSyncSettings) -> int:
    return asyncio.run(_rotate(settings))


ROTATE_CREDENTIALS: Command[InstagramSyncSettings] = Command(
    name="rotate-credentials",
    help="re-encrypt stored tokens under the first credential key (after putting a new key first)",
    run=_run_rotate,
)
