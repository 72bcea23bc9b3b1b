"""The shared outbox (published by the relay) and inbox tables.

Revision ID: 0001
Revises:
"""

from intplat_common.db import INBOX_V1, OUTBOX_V1, create_shared_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_shared_tables(OUTBOX_V1, INBOX_V1)
