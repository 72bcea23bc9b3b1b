"""outbox: rows are deleted once published, payloads stored inline and uncompressed (OUTBOX_AS_QUEUE_DDL).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from intplat_common import OUTBOX_AS_QUEUE_DDL

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in OUTBOX_AS_QUEUE_DDL:
        op.execute(statement)
