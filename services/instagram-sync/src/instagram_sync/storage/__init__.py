"""instagram-sync's database: migrations (plain SQL through alembic)."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
