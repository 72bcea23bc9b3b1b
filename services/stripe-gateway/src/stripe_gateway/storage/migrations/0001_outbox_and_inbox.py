"""The shared outbox (published by the relay) and inbox tables.

Revision ID: 0001
Revises:
"""

from alembic import op

from intplat_common import INBOX_DDL, OUTBOX_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in (*OUTBOX_DDL, *INBOX_DDL):
        op.execute(statement)
