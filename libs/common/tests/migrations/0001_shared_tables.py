"""Tables the library tests need: the shared outbox and inbox, and a table a test handler writes to
(no unique key on event_id: a duplicate application must be countable, not rejected).

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
    op.execute(
        """
        CREATE TABLE applied_effects (
            id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id   text NOT NULL,
            consumer   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
