"""A new service's first revision: the shared tables at their current layouts, in one step.

Revision ID: 0001
Revises:
"""

from intplat_common.db import INBOX_V1, OUTBOX_V2, create_shared_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_shared_tables(OUTBOX_V2, INBOX_V1)
