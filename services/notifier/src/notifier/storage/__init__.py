"""The notifier's database: migrations (plain SQL through alembic). Queries live in `ledger.py` and friends."""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
