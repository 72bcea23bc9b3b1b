"""asyncpg pool with JSON codecs, and migrations with alembic running plain SQL."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy.exc

log = logging.getLogger(__name__)
_ALEMBIC_ENV = Path(__file__).parent / "_alembic"

# The database is away (a restart, a failover, a dropped connection), not a bug in the caller: HTTP routes answer
# 503, workers end their round and try again, and it is logged as a warning without a traceback.
DATABASE_GONE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin or crash shutdown, "cannot connect now"
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection, **kwargs)
    assert pool is not None
    return pool


def _alembic_url(dsn: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+asyncpg://" + dsn[len(prefix) :]
    return dsn


def upgrade_database(dsn: str, versions_dir: Path, target: str = "head") -> None:
    """Apply a service's migrations (blocking; alembic runs its own event loop in env.py)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_ALEMBIC_ENV))
    cfg.set_main_option("version_locations", str(versions_dir))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["url"] = _alembic_url(dsn)
    command.upgrade(cfg, target)


async def migrate(dsn: str, versions_dir: Path) -> None:
    """From a running event loop (service start-up): alembic's env.py needs a loop of its own, so a thread."""
    await asyncio.to_thread(upgrade_database, dsn, versions_dir)


async def connect_and_migrate(
    dsn: str, versions_dir: Path, *, attempts: int = 60, min_size: int = 2, max_size: int = 20
) -> asyncpg.Pool:
    """Apply migrations and open the pool, waiting for the database (at `make run` it starts beside the service)."""
    for attempt in range(1, attempts + 1):
        try:
            await migrate(dsn, versions_dir)
            return await create_pool(dsn, min_size=min_size, max_size=max_size)
        # Alembic reports the same conditions (database not created yet, server shutting down) wrapped by SQLAlchemy.
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, sqlalchemy.exc.SQLAlchemyError) as exc:
            if attempt == attempts:
                raise
            log.info("database not ready; retrying", extra={"fields": {"error": repr(exc)}})
            await asyncio.sleep(1)
    raise AssertionError("unreachable")
