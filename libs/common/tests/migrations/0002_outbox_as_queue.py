"""The outbox's second revision, as the services run it.

Revision ID: 0002
Revises: 0001
"""

from intplat_common.db import OUTBOX_V2, upgrade_shared_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_shared_table(OUTBOX_V2)
