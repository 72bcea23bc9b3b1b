"""The gateway's database: migrations (plain SQL through alembic) and queries."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
