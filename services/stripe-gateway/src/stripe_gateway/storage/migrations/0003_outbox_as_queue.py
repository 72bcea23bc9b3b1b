"""outbox: rows are deleted once published, payloads stored inline and uncompressed (OUTBOX_V2).

Revision ID: 0003
Revises: 0002
"""

from intplat_common.db import OUTBOX_V2, downgrade_shared_table, upgrade_shared_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_shared_table(OUTBOX_V2)


def downgrade() -> None:
    downgrade_shared_table(OUTBOX_V2)
