"""The outbox's second revision, as the services run it.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from intplat_common import OUTBOX_AS_QUEUE_DDL

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in OUTBOX_AS_QUEUE_DDL:
        op.execute(statement)
